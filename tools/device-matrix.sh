#!/usr/bin/env bash
# docs/DEVICES.md's matrix, measured on a machine with a CUDA device: the main job through the
# implementations that run on cuda, at both float32 matrix-product modes, each mode's report
# kept. Usage: tools/device-matrix.sh OUT [IMPL ...] (default torch jax). Each run is bounded
# (DEVICE_MATRIX_TIMEOUT seconds, default 300) and ends its own process group.
set -uo pipefail
out=${1:?usage: tools/device-matrix.sh OUT [IMPL ...]}
shift
if [ $# -eq 0 ]; then impls=(torch jax); else impls=("$@"); fi
limit=${DEVICE_MATRIX_TIMEOUT:-300}
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  python3 -c 'import jax; print("jax", jax.__version__, jax.devices())'
} > "$out/machine.txt" 2>&1
for mode in default highest; do
  work=$(mktemp -d)
  timeout --kill-after=10 "$limit" python3 -m comparisons --device cuda --precision "$mode" \
    --impl "${impls[@]}" --no-plots --quiet --out "$work/report"
  echo "$mode: exit $?" >> "$out/machine.txt"
  for f in report.md results.json; do
    [ -f "$work/report/$f" ] && cp "$work/report/$f" "$out/$mode-$f"
  done
  rm -rf "$work"
done
