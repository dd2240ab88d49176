"""How far below the top section the sections a reply cites were scored, gold or not.

    python benchmarks/source_shares.py --questions eval/dev.jsonl RUN.json [RUN.json ...] [--config FILE]

For each answer of an ``study-assistant eval`` run that was not a refusal, every line of its
synthesis (the text before the quotes) that cites a second or third source is counted once per
source it cites, with that section's fused retrieval score as a share of the top section's
(the retrieval of ``--config``, all ``answer.k`` sections: for runs that gave the model every
section, as session 14's did) and whether it
is a gold section. Prints how many such lines cite gold and non-gold sections, the lowest share
of a gold one, and how many non-gold ones fall under a few shares: what ``answer.related_share``
was chosen from (session 15).
"""

from __future__ import annotations

import json
from pathlib import Path

from stored_runs import open_runs

SHARES = (0.4, 0.45, 0.5)


def main() -> None:
    args, config, index = open_runs(__doc__)

    from assistant.composition import synthesis_of
    from assistant.evaluation import gold_matches, load_questions
    from assistant.followup import retrieval_query
    from assistant.prompting import parse_citations

    questions = {item.id: item for item in load_questions(args.questions)}
    hits = {qid: index.search(retrieval_query(item.question, list(item.history)), k=config.answer.k)
            for qid, item in questions.items() if item.covered}

    print("| run | lines citing a gold 2nd/3rd section | lowest share | lines citing a non-gold one | "
          + " | ".join(f"… under {s}" for s in SHARES) + " |")
    print("|---|---|---|---|" + "---|" * len(SHARES))
    for run in args.runs:
        gold_shares, other_shares = [], []
        for record in json.loads(Path(run).read_text("utf-8"))["per_question"]:
            if record["id"] not in hits or record["refused"]:
                continue
            found = hits[record["id"]]
            if [h.section_ref for h in found] != record["retrieved"][:len(found)]:
                raise SystemExit(f"{run}: {record['id']} was retrieved differently; replay it on today's retrieval")
            for line in synthesis_of(record["answer"]).splitlines():
                for n in parse_citations(line, len(found))[0]:
                    if n == 1:
                        continue
                    share = found[n - 1].score / found[0].score
                    gold = any(gold_matches(g, found[n - 1].section_ref) for g in questions[record["id"]].gold_sections)
                    (gold_shares if gold else other_shares).append(share)
        lowest = f"{min(gold_shares):.3f}" if gold_shares else "-"
        under = " | ".join(str(sum(s < cut for s in other_shares)) for cut in SHARES)
        print(f"| {Path(run).name} | {len(gold_shares)} | {lowest} | {len(other_shares)} | {under} |")


if __name__ == "__main__":
    main()
