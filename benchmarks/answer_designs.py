"""Answer designs weighed on a dev set with the answer judge, from one eval report's answers:

- ``as drafted``: the answers as the report holds them (its ``answer``);
- ``cut``: the model's lines cut at a clause that contradicts its sources (``ContradictionCheck``
  over the retrieved sections), as answers are now checked before they are shown;
- ``quotes only``: the extractive design, the quoted source sentences alone.

    python benchmarks/answer_designs.py REPORT.json --corpus seed --questions eval/dev.jsonl

The sources are the first three retrieved sections whole (the model read extracts of them), so
``cut`` approximates what the pipeline does. Prints one Markdown row per design: judged correct,
incomplete, wrong, contradicts, off-topic (shares of answered covered questions), key-point recall.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answer.contradictions import ContradictionCheck  # noqa: E402
from assistant.evaluation import gold_matches, key_point_recall, load_questions  # noqa: E402
from assistant.judge import LABELS, JudgeCase, RuleJudge, split_answer  # noqa: E402
from corpus import load_corpus  # noqa: E402


def designs(answer: str, check: ContradictionCheck) -> dict[str, str]:
    said, quotes = split_answer(answer)
    kept, _ = check.reply(said)
    heading = "\n\n资料原文要点：\n" if quotes else ""
    return {"as drafted": answer, "cut": (kept + heading + quotes).strip() if kept else quotes,
            "quotes only": quotes or said}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report")
    parser.add_argument("--corpus", default="wethinkin")
    parser.add_argument("--questions", required=True, help="the question set the report ran (for key points)")
    args = parser.parse_args()

    from index.lexical import ChineseTokenizer

    judge = RuleJudge(ChineseTokenizer())
    sections = {s.ref: s.text for s in load_corpus(args.corpus).sections}
    items = {q.id: q for q in load_questions(args.questions)}
    rows = [r for r in json.loads(Path(args.report).read_text("utf-8"))["per_question"] if r["gold"] and not r["refused"]]
    tally = {}
    for row in rows:
        item = items[row["id"]]
        gold = [ref for ref in sections if any(gold_matches(g, ref) for g in item.gold_sections)]
        check = ContradictionCheck([sections[ref] for ref in row["retrieved"][:3] if ref in sections], item.question)
        cited = tuple(sections[ref] for ref in dict.fromkeys(row["cited"]) if ref not in gold and ref in sections)
        for name, text in designs(row["answer"], check).items():
            verdict = judge.judge(JudgeCase(item.question, text, tuple(sections[ref] for ref in gold), cited,
                                            item.key_points))
            counts = tally.setdefault(name, {"n": 0, "kp": 0.0, **dict.fromkeys(LABELS, 0)})
            counts["n"] += 1
            counts[verdict.label] += 1
            counts["kp"] += key_point_recall(text, item.key_points)
    print(f"{args.report}: {len(rows)} answered covered questions\n")
    print("| design | " + " | ".join(LABELS) + " | key-point recall |")
    print("|---" * (len(LABELS) + 2) + "|")
    for name, c in tally.items():
        print(f"| {name} | " + " | ".join(f"{c[label] / c['n']:.3f}" for label in LABELS) + f" | {c['kp'] / c['n']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
