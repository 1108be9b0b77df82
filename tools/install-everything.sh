#!/usr/bin/env bash
# Everything the main job judges, installed into the active environment: this package with
# every extra and the two examples (pip, through constraints.txt), MindSpore's environment of
# its own (tools/mindspore-env.sh) and the TensorFlow.js example's Node packages (npm ci).
# The two pip installs are independent and each mostly one core's unpacking, so they run side
# by side (on 2 cores: 163 s and 74 s one after the other, 2026-12-03). Exit non-zero when
# either fails; the other is then stopped, and nothing is left running.
#   bash tools/install-everything.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
set -m  # the background install in a process group of its own, so that its pip ends with it
bash tools/mindspore-env.sh > "$log" 2>&1 &
ms=$!
set +m
trap 'kill -- -"$ms" 2>/dev/null || true; wait "$ms" 2>/dev/null || true; rm -f "$log"' EXIT
pip install -c constraints.txt -e ".[all]" -e examples/autograd_impl -e examples/tfjs_impl
if ! wait "$ms"; then
    cat "$log" >&2
    echo "install-everything: tools/mindspore-env.sh failed (above)" >&2
    exit 1
fi
cat "$log"
npm ci --prefix examples/tfjs_impl --no-audit --no-fund
