#!/usr/bin/env bash
# Train Tessera's bundled InstanSeg model on a GPU machine that has no network and no pip index.
#
#   OUT=/somewhere bash scripts/train_on_gpu.sh [MINUTES] [more `tessera model train` options]
#
# Needs, next to this repository's libs/ and data/: the folder .whl/ with the wheels that machine
# lacks (instanseg-torch, edt, fastremap, monai; models/README.md has the download command). Its
# python3 must already have torch, numpy, scipy, scikit-image, pandas, seaborn, tifffile, pillow,
# einops, matplotlib, requests, tqdm and typer. Tessera itself is not installed there: only
# libs/tessera is put on PYTHONPATH, and tessera.segmentation imports nothing of the services.
#
# Writes into $OUT (at most 4 files, each well under 16 MiB): train.log, checkpoint.pt,
# metrics.json and tessera_he_nuclei/instanseg.pt. Running it again with the same OUT resumes.
# Settings by environment: DEVICE (cuda), BATCH (16), TILE (256), WORKERS (cores - 2), PYTHON.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MINUTES=${1:-7}
shift $(($# > 0 ? 1 : 0))
OUT=${OUT:-$ROOT/.state/gpu-train}
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-16}
TILE=${TILE:-256}
CORES=$(nproc)
WORKERS=${WORKERS:-$((CORES > 3 ? CORES - 2 : 1))}
SITE=${SITE:-/tmp/tessera-site}
PATHS=${PATHS_DIR:-/tmp/tessera-pythonpath}

# 1. instanseg-torch and the extras the image lacks, from the carried wheels (no index, no deps:
#    pip must not touch the image's torch).
if ! "$PYTHON" -c "import instanseg, edt, fastremap, monai" 2>/dev/null; then
  shopt -s nullglob
  wheels=("$ROOT"/.whl/*.whl)
  if [ ${#wheels[@]} -eq 0 ]; then
    echo "no wheels in $ROOT/.whl and instanseg is not importable" >&2
    exit 2
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "${wheels[@]}"
fi

# 2. `import tessera` resolves to this checkout's libs/tessera and nothing else of the repo.
mkdir -p "$PATHS"
ln -sfn "$ROOT/libs/tessera" "$PATHS/tessera"
export PYTHONPATH="$SITE:$PATHS${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TESSERA_MODEL_OFFLINE=1 TESSERA_NUCLS_DIR="$ROOT/data/nuclei_he_nucls"

mkdir -p "$OUT"
"$PYTHON" - <<'EOF' 2>&1 | tee -a "$OUT/train.log"
import platform, torch, instanseg, edt, fastremap, monai, pandas, seaborn, skimage, tifffile, typer
import tessera.segmentation.train
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {platform.python_version()}, torch {torch.__version__}, GPU {gpu}")
EOF

set -o pipefail
"$PYTHON" -m tessera.segmentation.cli train \
  --out "$OUT" --device "$DEVICE" --minutes "$MINUTES" \
  --batch-size "$BATCH" --tile-size "$TILE" --workers "$WORKERS" \
  --lr 2e-3 --validate-every 3 --checkpoint-every 1 --validation-tiles 32 \
  "$@" 2>&1 | tee -a "$OUT/train.log"
ls -l "$OUT" "$OUT/tessera_he_nuclei" | tee -a "$OUT/train.log"
