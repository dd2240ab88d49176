"""How much a follow-up should weigh against the turn it leans on, in its search (dev sets only).

    python benchmarks/followup_weight.py
    python benchmarks/followup_weight.py --corpus seed --questions eval/dev.jsonl

A follow-up ("那它会带来什么显存问题？") is searched with the previous user question before it
(``assistant/answer/followup.py``). Each row sets ``FOLLOW_UP_WEIGHT``, the times the follow-up
is written after the previous question (1 is the plain concatenation), builds the product's query
(``retrieval_query``) and scores the follow-ups
of the question files (those with a history) by hit@1/3/5 and MRR of the search's top 5, and
how often the section that answers the previous question alone comes first.
Writes benchmarks/results/followup_weight.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.answer import followup  # noqa: E402
from assistant.config import Config  # noqa: E402
from assistant.evaluation import first_relevant_rank, load_questions, retrieval_metrics  # noqa: E402
from assistant.indexing import open_search_index  # noqa: E402

DEV = [REPO / "eval" / "collection_followup_dev.jsonl", REPO / "eval" / "collection_dev.jsonl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", nargs="+", default=[str(p) for p in DEV])
    parser.add_argument("--corpus", help='"seed" for the seed document (default: the collection)')
    parser.add_argument("--times", nargs="+", type=int, default=[1, 2, 3, 4])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "followup_weight.json"))
    args = parser.parse_args()
    config = Config.load(None).with_overrides(**{"corpus.path": args.corpus})
    index = open_search_index(config)
    items = [item for path in args.questions for item in load_questions(path) if item.covered and item.history]
    if not items:
        raise SystemExit(f"no follow-ups (questions with a history) in {', '.join(args.questions)}")
    # the section that answers each previous question alone
    previous = {item.id: index.search([t["content"] for t in item.history if t["role"] == "user"][-1], k=1)[0].section_ref
                for item in items}
    rows = {}
    for times in args.times:
        followup.FOLLOW_UP_WEIGHT = times  # what the product's query reads
        ranked, previous_first = [], 0
        for item in items:
            query = followup.retrieval_query(item.question, list(item.history), index.config.max_query_chars)
            refs = [hit.section_ref for hit in index.search(query, k=5)]
            ranked.append(refs)
            alone = previous[item.id]
            previous_first += refs[0] == alone and first_relevant_rank([alone], item.relevant) is None
        metrics = retrieval_metrics(ranked, [item.relevant for item in items])
        metrics["previous_section_first"] = round(previous_first / len(items), 4)
        rows[times] = metrics
    print(f"{len(items)} follow-ups of {', '.join(Path(p).name for p in args.questions)}\n")
    print("| follow-up written | hit@1 | hit@3 | hit@5 | MRR | previous turn's section first, not gold |")
    print("|---|---|---|---|---|---|")
    for times, m in rows.items():
        print(f"| {times}× | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['hit@5']:.3f} | {m['mrr']:.3f} "
              f"| {m['previous_section_first']:.3f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"questions": args.questions, "corpus": args.corpus or "wethinkin",
                                          "n": len(items), "rows": rows}, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
