"""The main job: every case through every implementation, a parity table and a report.

Run `python -m comparisons --help`.
"""
