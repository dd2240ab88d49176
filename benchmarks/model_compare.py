"""The bundled 0.5B (with its LoRA adapter and without) and the larger-model extra's 1.5B, side by
side: the same covered questions answered through the whole pipeline by each, on this machine.

    python benchmarks/model_compare.py                          # 6 seed held-out questions, 3 settings
    python benchmarks/model_compare.py --questions 10 --file eval/heldout.jsonl --corpus seed
    python benchmarks/model_compare.py --settings bundled:default,bundled-1.5b:none --device cuda

Each setting runs in a fresh process, one after the other, so that its peak memory (RSS) is its
own. Per setting: load time (the conversion is done beforehand, once), peak RSS, and per answer
the time until the first words are shown and until the model's first piece, the decode rate (the
reply's tokens after the first, over the time after the first), the whole answer's time, and the
rule judge's label (``assistant.judge.RuleJudge`` against the gold sections and key points).
Prints a Markdown table of medians and label counts; writes benchmarks/results/model_compare.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTINGS = "bundled:default,bundled:none,bundled-1.5b:none"


def run_one(model: str, adapter: str, args) -> dict:
    """Answer the questions with one model and adapter in this process; the figures as a dict."""
    import torch

    from assistant import StudyAssistant
    from assistant.config import Config
    from assistant.evaluation import judge_answers, load_questions
    from assistant.judge import RuleJudge

    config = Config().with_overrides(**{"corpus.path": args.corpus, "llm.model": model, "llm.adapter": adapter,
                                        "llm.device": args.device})
    started = time.perf_counter()
    assistant = StudyAssistant.from_settings(config, progress=False)
    load_s = time.perf_counter() - started
    items = [q for q in load_questions(args.file) if q.covered and not q.history][: args.questions]
    judge = judge_answers(RuleJudge(assistant.index.tokenizer), assistant.index.sections)
    assistant.ask(items[0].question)  # warm-up: kernels, the system prompt's cache
    rows = []
    for item in items:
        answer = assistant.ask(item.question)
        t = answer.timings
        tokens = len(assistant.model.tokenizer(answer.draft)["input_ids"]) if answer.draft else 0
        decode_s = t["total"] - t.get("model_first_token", t["total"])
        rows.append({"id": item.id, "first_words_s": t.get("first_token"), "model_first_token_s": t.get("model_first_token"),
                     "total_s": t["total"], "reply_tokens": tokens,
                     "decode_tok_s": (tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else None,
                     "refused": answer.refused, "label": None if answer.refused else judge(item, answer).label,
                     "answer": answer.text})
        print(f"  {model}/{adapter} {item.id}: first words {t.get('first_token', 0):.2f} s, total {t['total']:.1f} s, "
              f"{tokens} tokens, {rows[-1]['label']}", file=sys.stderr, flush=True)
    return {"model": model, "adapter": adapter, "device": str(assistant.model.device), "threads": torch.get_num_threads(),
            "load_s": load_s, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "answers": rows}


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=6, help="covered questions without history, in file order")
    parser.add_argument("--file", default=str(REPO / "eval" / "heldout.jsonl"))
    parser.add_argument("--corpus", default="seed")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--settings", default=SETTINGS, help=f"MODEL:ADAPTER,… (default {SETTINGS})")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "model_compare.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # MODEL:ADAPTER, run in this process (the child)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one.split(":"), args), ensure_ascii=False))
        return 0

    results = []
    for setting in args.settings.split(","):
        child = [sys.executable, __file__, "--one", setting, "--questions", str(args.questions), "--file", args.file,
                 "--corpus", args.corpus, "--device", args.device]
        done = subprocess.run(child, stdout=subprocess.PIPE, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"\n{args.questions} covered questions of {Path(args.file).name} ({args.corpus}), "
          f"{results[0]['device']}, {results[0]['threads']} threads.\n")
    print("| model | adapter | load s | peak RSS GB | first words s | model's first token s | decode tok/s | answer s "
          "| judged correct | labels |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        answers = r["answers"]
        labels = {}
        for a in answers:
            labels[a["label"] or "refused"] = labels.get(a["label"] or "refused", 0) + 1
        print(f"| {r['model']} | {r['adapter']} | {r['load_s']:.1f} | {r['peak_rss_gb']:.2f} "
              f"| {median(a['first_words_s'] for a in answers):.2f} | {median(a['model_first_token_s'] for a in answers):.2f} "
              f"| {median(a['decode_tok_s'] for a in answers):.1f} | {median(a['total_s'] for a in answers):.1f} "
              f"| {labels.get('correct', 0)}/{len(answers)} | {', '.join(f'{k} {v}' for k, v in sorted(labels.items()))} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False), "utf-8")
    print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
