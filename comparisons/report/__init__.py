"""Reporting: what the judge's types look like on a terminal, in a report directory and in
the docs. Nothing here runs an implementation or judges a pair.

    document    the parity table, the verdict line and the main job's report directory
    output      JSON that round-trips floats, directories written whole (`staged`)
    plots       one PNG per case (matplotlib, optional)
    manifest    what produced a set of numbers: versions, commit, CPU, settings
    figures     the measured figures the docs quote, computed from a report
    frameworks  the framework parity table of docs/FRAMEWORKS.md
    bench       the benchmark's tables
The document's names are also this package's (`report.text_table`, `report.write`, ...).
"""

from .document import (COLUMNS, INFO_LEGEND, KAPPA_TEXT, ORACLES_FILE, PUBLISHED,
                       device_matrix, diagnose_command, markdown_table, not_judged_notes,
                       not_run_lines, published_rows, rounds_to, run_document, runs_dict,
                       table_rows, text_table, training_seconds, verdict_line, worst_of, write,
                       write_oracles)

__all__ = ["COLUMNS", "INFO_LEGEND", "KAPPA_TEXT", "ORACLES_FILE", "PUBLISHED",
           "device_matrix", "diagnose_command", "markdown_table", "not_judged_notes",
           "not_run_lines", "published_rows", "rounds_to", "run_document", "runs_dict",
           "table_rows", "text_table", "training_seconds", "verdict_line", "worst_of", "write",
           "write_oracles"]
