"""The case and the results block, under their old import path: they live in
comparisons.protocol (case.py, results.py, cost.py), which every implementation shares.
Kept so that a plugin written against `reference.case` (Case, TrainResult, load_case, ...)
works unchanged. Nothing here is a formula."""

from comparisons.protocol.case import (  # noqa: F401
                                       ACTIVATIONS, DATA_GENERATORS, DTYPES, INIT_SCHEMES,
                                       LOGIC_FUNCTIONS, LOSS_OUTPUT_ACTIVATIONS, LOSSES,
                                       MAX_UPDATES, REDUCTIONS, SCHEDULES, Case, CaseError,
                                       batch_order, case_from_dict, check_memory,
                                       generate_data, init_params, load_case, param_names,
                                       param_shape, shape_rule)
from comparisons.protocol.cost import (DEFAULT_MAX_MEMORY, MAX_FILE_BYTES,  # noqa: F401
                                       TRAJECTORY_CHUNK_BYTES, Cost, case_cost, parse_bytes)
from comparisons.protocol.results import TrainResult  # noqa: F401
