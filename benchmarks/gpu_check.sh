#!/usr/bin/env bash
# One prepared GPU check for a lent machine (device tool): install what it needs, run, print a table.
# Nothing is fetched from a model hub: the model is built from its config with random weights.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv /tmp/gpu-venv && . /tmp/gpu-venv/bin/activate
pip install -q torch "transformers>=5.0" "peft>=0.13" tqdm matplotlib numpy faiss-cpu jieba bm25s >/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
mkdir -p "${OUT:-/tmp}"
python benchmarks/gpu_check.py --device cuda --out "${OUT:-/tmp}/gpu_check.json"
