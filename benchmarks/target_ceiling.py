"""How far a LoRA adapter could lift key-point recall: the answers a perfect adapter would give.

    python benchmarks/target_ceiling.py                          # dev split
    python benchmarks/target_ceiling.py --questions eval/dev.jsonl --out benchmarks/results/target_ceiling.json

No model runs. For every covered question, the answer is composed as the assistant composes it
(synthesis, then the quoted key sentences of the cited sections) with the synthesis replaced by a
training-style target written from the gold section at the position retrieval gives it: what an
adapter that learned its targets perfectly would say. Rows:

- quotes only: no synthesis (what an answer shows when the model's synthesis is dropped);
- shipped targets: ``assistant.lora_data.key_point_target``: whole points of the source as the
  prompt shows it (sources trimmed to ``answer.source_chars``), ranked by the question's terms, at
  most 4 and 300 characters (session 5's design, key points cut to 3/200, gave 0.654);
- the same from the two gold sections when retrieval gives both (half the room each), as the
  two-topic training questions teach;
- whole points of the whole section (session 7's targets) in document order / ranked, 3/200;
- ranked 4/300, with 2 points from a second gold section when retrieval gives one (multi-section).

Key-point recall is the eval's measure (``assistant.evaluation.key_point_recall``). Use the dev
split to choose a target design; the held-out split stays for the final figure.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", default=str(REPO / "eval" / "dev.jsonl"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "target_ceiling.json"))
    args = parser.parse_args()

    from assistant.composition import compose, key_sentences
    from assistant.config import Config
    from assistant.evaluation import gold_matches, key_point_recall, load_questions
    from assistant.followup import retrieval_query
    from assistant.indexing import open_search_index
    from assistant.lora_data import key_point_target, whole_points
    from assistant.study import prompt_sources, quoted_sentences

    config = Config.load(None)
    index = open_search_index(config, progress=False)
    answer = config.answer
    designs = {
        "quotes only": None,
        "shipped targets (shown points, ranked, 4/300)": "shipped",
        "shipped targets, two gold sections when retrieved": "two",
        "whole points, document order, 3/200": (False, 3, 200, False),
        "whole points, ranked, 3/200": (True, 3, 200, False),
        "whole points, ranked, 4/300 + second gold section": (True, 4, 300, True),
    }
    items = [q for q in load_questions(args.questions) if q.covered]
    rows = {}
    for name, design in designs.items():
        by_type, lengths = {}, []
        for item in items:
            query = retrieval_query(item.question, list(item.history))
            hits = index.search(query, k=answer.k)
            terms = set(index.tokenizer.tokenize_query(query))
            gold = [n for n, h in enumerate(hits, start=1)
                    if any(gold_matches(g, h.section_ref) for g in item.gold_sections)]
            lines = []
            if design in ("shipped", "two") and gold:
                sources = prompt_sources(index, query, hits, answer.source_chars)  # a follow-up's query holds its topic
                target = key_point_target(index, query, hits, sources, gold[: 2 if design == "two" else 1])
                lines = target.splitlines() if target else []
            elif isinstance(design, tuple):
                ranked, max_points, max_chars, second = design
                for i, n in enumerate(gold[: 2 if second else 1]):
                    text = index.sections[hits[n - 1].section_ref].text
                    quoted = key_sentences(terms, text, index.tokenizer.tokenize, answer.quote_sentences,
                                           answer.quote_chars)
                    room = (max_points, max_chars) if i == 0 else (2, max_chars // 2)
                    points = whole_points(index.tokenizer.tokenize, text, quoted, terms, *room, ranked=ranked)
                    lines += [f"{p} [{n}]" for p in points]
            synthesis = "\n".join(lines)
            cited = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", synthesis)))  # as the answer cites
            shown = compose(synthesis, quoted_sentences(index, answer, terms, hits, cited), "zh")
            by_type.setdefault(item.type, []).append(key_point_recall(shown, item.key_points))
            lengths.append(len(shown))
        scores = [s for values in by_type.values() for s in values]
        rows[name] = {"key_point_recall": round(statistics.mean(scores), 3), "median_chars": statistics.median(lengths),
                      "by_type": {t: round(statistics.mean(v), 3) for t, v in sorted(by_type.items())}}

    types = sorted({t for row in rows.values() for t in row["by_type"]})
    print(f"{len(items)} covered questions from {args.questions}\n")
    print("| answer | key-point recall | median chars | " + " | ".join(types) + " |")
    print("|---|---|---|" + "---|" * len(types))
    for name, row in rows.items():
        print(f"| {name} | {row['key_point_recall']:.3f} | {row['median_chars']:.0f} | "
              + " | ".join(f"{row['by_type'].get(t, 0):.3f}" for t in types) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"questions": args.questions, "n": len(items), "rows": rows},
                                         indent=1, ensure_ascii=False), "utf-8")
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
