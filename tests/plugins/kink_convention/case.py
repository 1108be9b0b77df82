"""The reference's case module, for training's relative import."""

from reference.case import *  # noqa: F401,F403  (training imports TrainResult from .case)
