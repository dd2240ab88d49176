"""How often a second-turn reply says again what the conversation's first answer said.

    python benchmarks/repeated_turns.py --questions eval/heldout.jsonl RUN.json [RUN.json ...]

For each answered question of a ``study-assistant eval`` run that has a history, counts the lines
of the model's reply (``draft``) whose text (citations and spacing aside, ``composition.line_key``)
begins with 20 characters that the history's assistant turns hold, the line being 8 characters or
longer. Session 16: v5 opened held-out h066 with its first turn's answer, after training targets
that repeated the first answer (13 of 61 follow-up target lines).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def repeated_lines(reply: str, history: list[dict]) -> list[str]:
    """The lines of ``reply`` that repeat the history's assistant turns."""
    from assistant.composition import line_key

    said = "".join(line_key(line) for turn in history if turn["role"] == "assistant"
                   for line in turn["content"].splitlines())
    keys = (line_key(line) for line in reply.splitlines())
    return [key for key in keys if len(key) >= 8 and key[:20] in said]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="eval --out JSON files made on --questions")
    parser.add_argument("--questions", default=str(REPO / "eval" / "dev.jsonl"))
    args = parser.parse_args()

    from assistant.evaluation import load_questions

    history = {item.id: list(item.history) for item in load_questions(args.questions) if item.history}
    print("| run | second turns answered | reply lines | lines repeating the first answer | questions |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        rows = [r for r in json.loads(Path(run).read_text("utf-8"))["per_question"]
                if r["id"] in history and not r.get("refused")]
        lines = sum(len([x for x in (r.get("draft") or "").splitlines() if x.strip()]) for r in rows)
        repeats = {r["id"]: repeated_lines(r.get("draft") or "", history[r["id"]]) for r in rows}
        print(f"| {Path(run).stem} | {len(rows)} | {lines} | {sum(map(len, repeats.values()))} | "
              f"{', '.join(qid for qid, found in repeats.items() if found) or '—'} |")


if __name__ == "__main__":
    main()
