"""The main job: every case through every implementation, a parity table and a report.

Run `python -m comparisons --help`. The layout of this package, and what each part may import,
is in docs/DEVELOPING.md.
"""

import time

STARTED = time.perf_counter()  # the main job's wall time counts its own imports
