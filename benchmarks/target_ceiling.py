"""How far a LoRA adapter could lift key-point recall: the answers a perfect adapter would give.

    python benchmarks/target_ceiling.py                          # dev split
    python benchmarks/target_ceiling.py --questions eval/dev.jsonl --out benchmarks/results/target_ceiling.json

No model runs. For every covered question, the answer is composed as the assistant composes it
(synthesis, then the quoted key sentences of the cited sections) with the synthesis replaced by:

- nothing ("quotes only": what an answer shows when the model's synthesis is dropped);
- everything the prompt shows of the k sources (a reply that copied all it reads): the bound on
  what any model can add from its prompt, for chunk extracts (sessions 8-10: the matched chunk cut
  to 400 characters) and section extracts (session 11: the section cut to 600 characters around
  the question, ``answer.source_scope = "section"``);
- a training target (``assistant.lora_data.key_point_target``: whole points of the gold source as
  the prompt shows it, ranked by the question's terms, those the quotes show left out) at the
  position retrieval gives the gold section, at 4/300 and 6/400 points/characters (8/600 and 10/800,
  session 20), with the points related to the question only or filled with the source's other
  points: what an adapter that learned its targets perfectly would say; and the same targets
  drawn from the whole gold section instead of what the prompt shows (what an adapter that had
  memorised the notes could add beyond its prompt, session 19);
- the whole gold sections (the bound for answers drawn from the right sections).

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

    from assistant.composition import compose
    from assistant.config import Config
    from assistant.evaluation import gold_matches, key_point_recall, load_questions
    from assistant.followup import retrieval_query
    from assistant.indexing import open_search_index
    from assistant.lora_data import key_point_target
    from assistant.study import prompt_sources, quoted_sentences

    config = Config.load(None)
    index = open_search_index(config, progress=False)
    answer = config.answer
    designs = {  # (what the synthesis is, source scope, source chars, target points, target chars, gold sections, fill)
        "quotes only": None,
        "everything the prompt shows: chunk extracts, 400 chars": ("prompt", "chunk", 400),
        "everything the prompt shows: section extracts, 600 chars": ("prompt", "section", 600),
        "targets 4/300 from chunk extracts of 400 (session 10)": ("target", "chunk", 400, 4, 300, 1, False),
        "targets 4/300 from section extracts of 600": ("target", "section", 600, 4, 300, 1, False),
        "targets 6/400 from section extracts of 600 (session 11 v3)": ("target", "section", 600, 6, 400, 1, False),
        "the same, filled with the source's other points (session 12)": ("target", "section", 600, 6, 400, 1, True),
        "the same, two gold sections when retrieved": ("target", "section", 600, 6, 400, 2, True),
        "targets 6/400 from the whole gold section (session 19)": ("target", "section", 0, 6, 400, 1, True),
        "the same, two gold sections when retrieved (session 19)": ("target", "section", 0, 6, 400, 2, True),
        "targets 6/400 from chunk extracts of 400, filled, two gold (v8's recipe)": ("target", "chunk", 400, 6, 400, 2, True),
        "longer targets 8/600 from chunk extracts of 400, filled, two gold (session 20)": ("target", "chunk", 400, 8, 600, 2, True),
        "longer targets 8/600 from section extracts of 600, filled, two gold (session 20)": ("target", "section", 600, 8, 600, 2, True),
        "longer targets 10/800 from section extracts of 600, filled, two gold (session 20)": ("target", "section", 600, 10, 800, 2, True),
        "the whole gold sections": ("whole",),
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
            if design and design[0] == "prompt":
                lines = [text for _, text in prompt_sources(index, query, hits, design[2], design[1])]
            elif design and design[0] == "target" and gold:
                _, scope, chars, max_points, max_chars, sections, fill = design
                sources = prompt_sources(index, query, hits, chars, scope)  # a follow-up's query holds its topic
                target = key_point_target(index, query, hits, sources, gold[:sections], max_points, max_chars, fill)
                lines = target.splitlines() if target else []
            elif design and design[0] == "whole":
                lines = [index.sections[hits[n - 1].section_ref].text for n in gold]
            synthesis = "\n".join(lines)
            cited = [] if design and design[0] != "target" else list(  # as the answer cites; else the top section
                dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", synthesis)))
            shown = compose(synthesis, quoted_sentences(index, answer, terms, hits, cited, synthesis), "zh")
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
