#!/usr/bin/env bash
# The seed held-out set answered in-process and through llama.cpp's server with the same bundled
# GGUF and the exported adapter: key-point recall, citations and refusals side by side.
#
#   bash benchmarks/server_eval.sh [LLAMA_SERVER] [OUT_DIR]
#
# LLAMA_SERVER: a llama-server binary (default benchmarks/.llama/llama-server, which
# benchmarks/build_llama_server.sh builds). Writes OUT_DIR/seed_{server,inprocess}.json (+ .md).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${1:-benchmarks/.llama/llama-server}
OUT=${2:-benchmarks/results/server_eval}
PORT=${PORT:-8765}
[ -x "$SERVER" ] || { echo "error: no llama-server at $SERVER; run benchmarks/build_llama_server.sh" >&2; exit 1; }
mkdir -p "$OUT/files"
study-assistant export-model --out "$OUT/files" >/dev/null
study-assistant export-adapter --format gguf --out "$OUT/files" >/dev/null
"$SERVER" -m "$OUT/files/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" --lora "$OUT/files/study-lora.gguf" -c 8192 -np 1 \
  --host 127.0.0.1 --port "$PORT" --no-webui -t "$(nproc)" > "$OUT/llama-server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 1; done
# the served model is the bundled one: its tokenizer lets a confident answer bar the refusal opening;
# llama.cpp's repeat penalty is not in-process's (docs/deploy.md), so none (1.0, also its default)
printf '[llm]\nserver_tokenizer = "bundled"\nextra_body = {repeat_penalty = 1.0}\n' > "$OUT/server.toml"
study-assistant eval --config "$OUT/server.toml" --questions eval/heldout.jsonl --corpus seed \
  --base-url "http://127.0.0.1:$PORT/v1" --out "$OUT/seed_server.json"
kill $PID; wait $PID 2>/dev/null || true
study-assistant eval --questions eval/heldout.jsonl --corpus seed --out "$OUT/seed_inprocess.json"
