"""Whole-answer time with and without ending a reply at its first repeated line
(``llm.stop_repeated_line``), on real dev questions with the shipped adapter on.

    python benchmarks/reply_time.py                           # 20 covered dev questions
    python benchmarks/reply_time.py --questions 40 --out benchmarks/results/reply_time.json

The two settings answer each question in turn (interleaved, so that machine drift hits both
alike), after one warm-up answer each. Reported per setting: median and total seconds of the
whole answer, median characters the model generated, and how many answers' text differs. Prints a
Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=20, help="covered dev questions, in file order")
    parser.add_argument("--file", default=str(REPO / "eval" / "dev.jsonl"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "reply_time.json"))
    args = parser.parse_args()

    from assistant.evaluation import load_questions
    from assistant.generation import HFGenerator
    from assistant.study import StudyAssistant

    stopping = StudyAssistant.from_config(None, progress=False)
    generator = stopping.generator
    if not generator.config.stop_repeated_line:
        raise SystemExit("llm.stop_repeated_line is off in this config: nothing to compare")
    looping = StudyAssistant(stopping.index, HFGenerator(generator.model, generator.tokenizer, dataclasses.replace(
        generator.config, stop_repeated_line=False), generator.device, generator.lora), stopping.config)
    settings = {"stop at a repeated line": stopping, "run to max_new_tokens": looping}
    items = [q for q in load_questions(args.file) if q.covered][:args.questions]
    for assistant in settings.values():  # warm-up: caches, first-call overheads
        assistant.ask(items[0].question, list(items[0].history))
    rows = {name: [] for name in settings}
    for item in items:
        for name, assistant in settings.items():
            started = time.perf_counter()
            answer = assistant.ask(item.question, list(item.history))
            rows[name].append({"id": item.id, "seconds": round(time.perf_counter() - started, 3),
                               "draft_chars": len(answer.draft), "text": answer.text})
    differ = sum(a["text"] != b["text"] for a, b in zip(*rows.values()))
    print(f"{len(items)} covered questions from {args.file}, adapter on; answers that differ: {differ}\n")
    print("| setting | median s | total s | median chars generated |")
    print("|---|---|---|---|")
    summary = {}
    for name, values in rows.items():
        seconds = [v["seconds"] for v in values]
        summary[name] = {"median_s": round(statistics.median(seconds), 3), "total_s": round(sum(seconds), 1),
                         "median_draft_chars": statistics.median(v["draft_chars"] for v in values)}
        print(f"| {name} | {summary[name]['median_s']:.2f} | {summary[name]['total_s']:.0f} | "
              f"{summary[name]['median_draft_chars']:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"file": args.file, "differ": differ, "summary": summary, "rows": rows},
                                         indent=1, ensure_ascii=False), "utf-8")
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
