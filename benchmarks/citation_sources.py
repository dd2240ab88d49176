"""Which source the model's copied lines come from, and which one they cite.

    python benchmarks/citation_sources.py --questions eval/dev.jsonl RUN.json [RUN.json ...] [--config FILE]

For every answer of an ``study-assistant eval`` run that reached the model, each line of the
model's own reply (``draft``, before the assistant's checks) that cites one source is looked up in
the sources as the prompt showed them (``related_hits`` and ``prompt_sources`` with the settings of
``--config``: give the ones the runs were made with; session 14's gave every section, ``[answer]
related_share = 0``). A line is *copied* when its letters and digits stand word for word in a source
(``composition.letters``; renumbered list items count). Prints, per run: cited lines, copied
lines, copied lines whose cited source does not hold them, and how many of those came from a
section that is not gold. The assistant now re-cites such lines (``recite_copied_lines``); this
measures the model's habit, which training data can change (``lora_data.SOURCE_SWAP``).
"""

from __future__ import annotations

import json
from pathlib import Path

from stored_runs import open_runs


def main() -> None:
    args, config, index = open_runs(__doc__)

    from assistant.composition import holders, letters
    from assistant.evaluation import gold_matches, load_questions
    from assistant.followup import retrieval_query
    from assistant.prompting import parse_citations
    from assistant.study import prompt_sources, related_hits

    answer = config.answer
    shown = {}
    for item in load_questions(args.questions):
        query = retrieval_query(item.question, list(item.history))
        hits = related_hits(index.search(query, k=answer.k), answer.related_share)
        extracts = [letters(text) for _, text in prompt_sources(index, query, hits, answer.source_chars, answer.source_scope)]
        gold = [any(gold_matches(g, hit.section_ref) for g in item.gold_sections) for hit in hits]
        shown[item.id] = extracts, gold

    print("| run | single-cited lines | copied | cited elsewhere | … from a non-gold section |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        cited = copied = elsewhere = off_gold = 0
        for record in json.loads(Path(run).read_text("utf-8"))["per_question"]:
            extracts, gold = shown[record["id"]]
            for line in (record["draft"] or "").splitlines():
                numbers, invalid = parse_citations(line, len(extracts))
                if len(numbers) != 1 or invalid:
                    continue
                cited += 1
                found = holders(line, extracts)
                if not found:
                    continue
                copied += 1
                if numbers[0] not in found:
                    elsewhere += 1
                    off_gold += not gold[found[0] - 1]
        print(f"| {Path(run).name} | {cited} | {copied} | {elsewhere} | {off_gold} |")


if __name__ == "__main__":
    main()
