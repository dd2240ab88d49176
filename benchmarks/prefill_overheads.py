"""What the shipped LoRA adapter costs a CPU prefill, as it was attached and as it is now.

    python benchmarks/prefill_overheads.py                 # ~900-token prompt, 5 interleaved runs
    python benchmarks/prefill_overheads.py --runs 9 --target-tokens 1100

One forward pass over the benchmark prompt of benchmarks/llm_speed.py (logits of the last
position only, as generate() asks for), per variant, the variants interleaved run by run:

- ``plain``: the converted model as from_pretrained gives it (its weights require grad)
- ``peft``: the adapter as peft LoRA layers over frozen weights (the assistant until session 8)
- ``peft, plain strides``: the same with the output layer's input made plain (``plain_strides_for_output_layer``)
- ``merged``: ``MergedAdapter`` (the adapter folded into the weights), plain strides: the assistant now
- ``merged, switched off``: the same model with the base weights swapped back in

Prints a Markdown table (median seconds, prefill tokens/s, ratio to ``plain``) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target-tokens", type=int, default=900, help="prompt length to aim for")
    parser.add_argument("--adapter", default=str(REPO / "assistant" / "data" / "adapter"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "prefill_overheads.json"))
    args = parser.parse_args()

    import torch
    from llm_speed import build_prompt
    from transformers import AutoModelForCausalLM

    from assistant.config import Config
    from assistant.generation import load_tokenizer, plain_strides_for_output_layer
    from assistant.lora import MergedAdapter, load_adapter
    from assistant.model_files import resolve_model

    path = resolve_model("bundled", Config.load(None).data_path)

    def load():
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()

    plain, peft, peft_plain = load(), load_adapter(load(), args.adapter), load_adapter(load(), args.adapter)
    plain_strides_for_output_layer(peft_plain)
    lora = MergedAdapter(load_adapter(load(), args.adapter), args.adapter)
    merged = lora.model
    plain_strides_for_output_layer(merged)
    ids = torch.tensor([build_prompt(load_tokenizer(path), args.target_tokens)])  # (1, prompt tokens)

    def switched(on: bool):
        def run():
            lora.switch(merged, on)
            return merged(ids, logits_to_keep=1).logits
        return run

    variants = {"plain": lambda: plain(ids, logits_to_keep=1).logits,
                "peft": lambda: peft(ids, logits_to_keep=1).logits,
                "peft, plain strides": lambda: peft_plain(ids, logits_to_keep=1).logits,
                "merged": switched(True), "merged, switched off": switched(False)}
    times = {name: [] for name in variants}
    logits = {}
    with torch.inference_mode():
        for run in variants.values():  # warm-up
            run()
        for i in range(args.runs):
            for name, run in variants.items():
                started = time.perf_counter()
                logits[name] = run()
                times[name].append(time.perf_counter() - started)
            print(f"  run {i + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)

    base = statistics.median(times["plain"])
    rows = {name: {"median_s": round(statistics.median(t), 3), "min_s": round(min(t), 3), "max_s": round(max(t), 3),
                   "prefill_tok_s": round(ids.shape[1] / statistics.median(t), 1),
                   "ratio_to_plain": round(statistics.median(t) / base, 3), "runs_s": [round(x, 3) for x in t]}
            for name, t in times.items()}
    top = {name: int(value[0, -1].argmax()) for name, value in logits.items()}
    result = {"machine": {"cpu": platform.machine(), "threads": torch.get_num_threads(), "torch": torch.__version__},
              "prompt_tokens": ids.shape[1], "runs": args.runs, "variants": rows,
              "merged_off_equals_plain": bool(torch.equal(logits["merged, switched off"], logits["plain"])),
              "merged_vs_peft_max_logit_diff": float((logits["merged"].float() - logits["peft"].float()).abs().max()),
              "next_token": top}
    print(f"\n{ids.shape[1]}-token prompt, {torch.get_num_threads()} threads, {args.runs} runs.\n")
    print("| variant | prefill s, median (min–max) | tokens/s | ÷ plain |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['median_s']:.2f} ({row['min_s']:.2f}–{row['max_s']:.2f}) | {row['prefill_tok_s']:.0f} "
              f"| {row['ratio_to_plain']:.2f} |")
    print(f"\nmerged, switched off == plain: {result['merged_off_equals_plain']}; "
          f"merged vs peft: max logit difference {result['merged_vs_peft_max_logit_diff']:.3f}, next token {top}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1), "utf-8")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
