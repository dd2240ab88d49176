#!/usr/bin/env bash
# One prepared GPU check for a lent machine (device tool). That machine reaches no registry: it uses
# the image's own python3 (torch, transformers, peft, tqdm, matplotlib) and the assets written here
# beforehand by `python benchmarks/gpu_check.py --prepare .gpu_assets` (carry .gpu_assets).
# Nothing is fetched from a model hub: the model is built from its config with random weights.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"
RESULTS="${OUT:-benchmarks/results}"  # $OUT: the folder the device tool brings back
mkdir -p "$RESULTS"
python3 benchmarks/gpu_check.py --assets "${GPU_ASSETS:-.gpu_assets}" --device cuda --out "$RESULTS/gpu_check.json" "$@"
