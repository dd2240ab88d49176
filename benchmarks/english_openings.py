"""How often English replies open without naming what they are about ("It is…", "Use L1 or L2.").

    python benchmarks/english_openings.py RUN.json [RUN.json ...] [--answers FILE.jsonl ...]

For each ``study-assistant eval`` run, counts the English questions (``type == "english"``) whose
model reply (``draft``) opens with a vague word, and the reply lines that do; with ``--answers``,
the same for English training answer files (``assistant/data/lora_train_answers_en.jsonl``'s
form: ``{"question", "section", "answer": [line, ...]}``). Session 17: v8 opened 13 of 16 dev
English replies so, after training answers of which 38 of 141 lines opened so; the base model none.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

VAGUE = {"it", "this", "that", "they", "these", "those", "so", "use", "yes", "no"}


def vague(line: str) -> bool:
    """Whether a line opens with a pronoun or a bare "Use / Yes / No": ``vague("It is used…")`` -> True."""
    word = re.match(r"\s*([A-Za-z]+)", line)
    return bool(word) and word.group(1).lower() in VAGUE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help="eval --out JSON files")
    parser.add_argument("--answers", nargs="*", default=[], help="English training answer JSONL files")
    args = parser.parse_args()

    print("| file | English replies / answers | opening vaguely | lines | lines opening vaguely |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        replies = [(r.get("draft") or "").splitlines() for r in json.loads(Path(run).read_text("utf-8"))["per_question"]
                   if r["type"] == "english"]
        report(Path(run).stem, [[line for line in reply if line.strip()] for reply in replies])
    for path in args.answers:
        rows = [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]
        report(Path(path).name, [row["answer"] for row in rows])


def report(name: str, answers: list[list[str]]) -> None:
    lines = [line for answer in answers for line in answer]
    print(f"| {name} | {len(answers)} | {sum(bool(a) and vague(a[0]) for a in answers)} | {len(lines)} | "
          f"{sum(map(vague, lines))} |")


if __name__ == "__main__":
    main()
