"""The protocol: what every implementation and the judge share, and nothing of the judge.

An implementation imports this package only (as ONNX backends import onnx.backend.base):
    case       the case: `Case`, its validation (`CaseError`, one line) and `load_case`
    results    what `train(case)` returns: `TrainResult`, and its JSON form, the results block
    cost       what a case asks of the machine, known before anything is allocated
    parts      a run in parts: updates start..stop-1 as a case of their own
    devices    devices and float32 precision modes
    registry   how implementations are found, declared and described (`resolve`, `FIELDS`)
The registry's names are also this package's (`protocol.resolve`, `protocol.ORACLE`, ...).
"""

from .case import Case, CaseError, batch_order, case_from_dict, load_case
from .registry import (ALIASES, DISTRIBUTION, ENV_COMMAND, ENV_DIRECTORY, ENV_ENVIRONMENT,
                       FIELDS, FUNCTIONS, GROUP, ORACLE, DEVICES, PRECISIONS, ExpectedFailure,
                       Implementation, ProtocolError, all_registered, declaration, merged,
                       registered, resolve)
from .results import TrainResult

__all__ = ["ALIASES", "Case", "CaseError", "DEVICES", "DISTRIBUTION", "ENV_COMMAND",
           "ENV_DIRECTORY", "ENV_ENVIRONMENT", "ExpectedFailure", "FIELDS", "FUNCTIONS", "GROUP",
           "Implementation", "ORACLE", "PRECISIONS", "ProtocolError", "TrainResult",
           "all_registered", "batch_order", "case_from_dict", "declaration", "load_case",
           "merged", "registered", "resolve"]
