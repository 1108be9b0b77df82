"""Loading PaddlePaddle quietly, and never after TensorFlow (not a formula: not mirrored).
Importing this module does not import paddle."""

import contextlib
import sys
import warnings


@contextlib.contextmanager
def quiet_import():
    """Around `import paddle`: its warning that ccache is absent (only for building C++
    extensions, which nothing here does) is not shown; any other warning is. Paddle 3.3.1
    loaded into a process that has loaded TensorFlow crashes it (a segmentation fault in
    paddle.base.core; ERRATA.md): refused here with the reason instead."""
    if "paddle" not in sys.modules and "tensorflow" in sys.modules:
        raise ImportError("paddle cannot be loaded after tensorflow in one process: paddle "
                          "3.3.1 then crashes with a segmentation fault (ERRATA.md); import "
                          "paddle first, or run it in a process of its own")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
        yield
