"""Answer designs weighed on a dev set with the answer judge, from one eval report's answers:

- ``as drafted``: the answers as the report holds them (its ``answer``);
- ``cut``: the model's lines cut at a clause that contradicts its sources (``ContradictionCheck``
  over the retrieved sections), as ``answer.synthesis = "free"`` shows them;
- ``copies only``: each line cut, in addition, at its first clause in the model's own words (one
  close to no source clause), as ``answer.synthesis = "copies"``, the default, shows them; and the
  same with English lines left as ``cut`` has them;
- ``quotes only``: the extractive design, the quoted source sentences alone.

    python benchmarks/answer_designs.py REPORT.json --corpus seed --questions eval/dev.jsonl
    python benchmarks/answer_designs.py --labels eval/answer_labels.jsonl   # against the hand labels

With ``--labels`` the designs are applied to the hand-labelled answers instead and scored by the
labels' own bad lines (each design only removes lines, so a reader's verdict carries over): the
share of answers left with a line a reader marked contradicting (or wrong, or off-topic), and of
the answers a reader called correct, the share whose key-point recall the design does not lower.

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
from assistant.text import question_language  # noqa: E402
from corpus import load_corpus  # noqa: E402


def designs(answer: str, sources: list[str], question: str) -> dict[str, str]:
    """The answer as each design would show it, from its drafted text and its sources."""
    said, quotes = split_answer(answer)
    check, copies = ContradictionCheck(sources, question), ContradictionCheck(sources, question, copies_only=True)
    lines = said.split("\n")
    cut = [check.cut(line)[0] for line in lines]
    copied = [copies.cut(line)[0] for line in lines]
    english = [c if question_language(line) == "en" else k for line, c, k in zip(lines, cut, copied)]
    heading = "\n\n资料原文要点：\n" if quotes else ""

    def with_quotes(kept: list[str]) -> str:
        text = "\n".join(line for line in kept if line.strip())
        return (text + heading + quotes).strip() if text else quotes

    return {"as drafted": answer, "cut": with_quotes(cut), "copies only": with_quotes(copied),
            "copies only, English lines as cut": with_quotes(english), "quotes only": quotes or said}


def survives(bad: str, lines: list[str]) -> bool:
    """A reader's bad line is still shown: whole, or cut to a part that keeps most of it."""
    bad = bad.strip()
    return any(line.strip() == bad or (len(line.strip()) >= 0.6 * len(bad) and bad.startswith(line.strip()[:-2]))
               for line in lines if line.strip())


def against_labels(path: str) -> int:
    """Each design applied to the hand-labelled answers, scored by the labels' bad lines."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from answer_judge import key_points, section_texts

    rows = [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]
    corpora, points = section_texts(rows), key_points()
    tally = {}
    for row in rows:
        texts = corpora[row["corpus"]]
        sources = [texts[ref] for ref in dict.fromkeys(row["gold"] + row["cited"]) if ref in texts]
        wanted = points.get(row["id"].split(":", 1)[1], ())
        for name, text in designs(row["answer"], sources, row["question"]).items():
            lines = text.splitlines()
            counts = tally.setdefault(name, {"n": 0, "contradicts": 0, "wrong": 0, "off_topic": 0,
                                             "correct": 0, "correct_kept": 0})
            counts["n"] += 1
            for kind in ("contradicts", "wrong", "off_topic"):
                counts[kind] += any(survives(b["line"], lines) for b in row["bad_lines"] if b["kind"] == kind)
            if row["label"] == "correct":
                counts["correct"] += 1
                counts["correct_kept"] += key_point_recall(text, wanted) >= key_point_recall(row["answer"], wanted)
    print(f"{path}: {len(rows)} hand-labelled answers\n")
    print("| design | a contradicting line left | a wrong line left | an off-topic line left | correct ones keeping their key points |")
    print("|---|---|---|---|---|")
    for name, c in tally.items():
        print(f"| {name} | {c['contradicts'] / c['n']:.3f} | {c['wrong'] / c['n']:.3f} | {c['off_topic'] / c['n']:.3f} "
              f"| {c['correct_kept'] / max(c['correct'], 1):.3f} ({c['correct']}) |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?")
    parser.add_argument("--corpus", default="wethinkin")
    parser.add_argument("--questions", help="the question set the report ran (for key points)")
    parser.add_argument("--labels", help="score the designs on these hand-labelled answers instead of a report")
    args = parser.parse_args()
    if args.labels:
        return against_labels(args.labels)
    if not args.report or not args.questions:
        parser.error("give REPORT.json and --questions, or --labels")

    from index.lexical import ChineseTokenizer

    judge = RuleJudge(ChineseTokenizer())
    sections = {s.ref: s.text for s in load_corpus(args.corpus).sections}
    items = {q.id: q for q in load_questions(args.questions)}
    rows = [r for r in json.loads(Path(args.report).read_text("utf-8"))["per_question"] if r["gold"] and not r["refused"]]
    tally = {}
    for row in rows:
        item = items[row["id"]]
        gold = [ref for ref in sections if any(gold_matches(g, ref) for g in item.gold_sections)]
        sources = [sections[ref] for ref in row["retrieved"][:3] if ref in sections]
        cited = tuple(sections[ref] for ref in dict.fromkeys(row["cited"]) if ref not in gold and ref in sections)
        for name, text in designs(row["answer"], sources, item.question).items():
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
