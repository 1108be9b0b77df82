#!/usr/bin/env bash
# MindSpore's environment of its own: .venvs/mindspore, with mindspore 2.10.0, NumPy 1.26 and
# this package (editable, for its worker: comparisons.execution.workers and mindspore_impl), none of the
# judge's other frameworks. The judge runs mindspore's worker there (IMPLEMENTATION["python"]
# in mindspore_impl) and speaks JSON with it. Idempotent: an environment that already imports
# mindspore and this package is kept.
#   bash tools/mindspore-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venvs/mindspore/bin/python
if [ -x "$py" ] && "$py" -c "import mindspore, mpmath, comparisons, mindspore_impl" 2>/dev/null; then
    echo "mindspore-env: $py is ready"
    exit 0
fi
python3 -m venv .venvs/mindspore
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q -c constraints-mindspore.txt mindspore mpmath -e .
"$py" -c "import mindspore, numpy; print('mindspore-env:', mindspore.__version__, 'numpy', numpy.__version__)"
