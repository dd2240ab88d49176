"""Grid-search fusion settings and chunk size on the DEV split (never the held-out set).

    python benchmarks/tune_retrieval.py --questions eval/dev.jsonl

Prints one row per setting (hit@1, hit@3, MRR) sorted by MRR, then hit@1.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from dataclasses import replace

from assistant.config import Config
from assistant.evaluation import evaluate_retrieval, load_questions
from assistant.followup import retrieval_query
from assistant.indexing import open_search_index
from corpus import ChunkConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", default="eval/dev.jsonl")
    parser.add_argument("--corpus", default=None)
    args = parser.parse_args()
    if "heldout" in args.questions:
        raise SystemExit("Tune on the dev split only: the held-out set must stay unseen.")
    questions = load_questions(args.questions)
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        for max_chars, overlap in ((400, 80), (600, 100), (900, 150)):
            config = Config(data_dir=data_dir).with_overrides(**{"corpus.path": args.corpus})
            config = replace(config, chunking=ChunkConfig(max_chars, overlap))
            index = open_search_index(config, progress=False)
            grid = [("rrf", k, w) for k, w in itertools.product((5, 10, 20, 60), (0.3, 0.5, 0.7, 1.0))]
            grid += [("score", 0, w) for w in (0.2, 0.3, 0.4, 0.5, 0.7, 1.0)]
            for fusion, rrf_k, dense_weight in grid:
                index.config = replace(index.config, fusion=fusion, rrf_k=float(rrf_k or 10), dense_weight=dense_weight)

                def retrieve(item):
                    query = retrieval_query(item.question, list(item.history))
                    return [h.section_ref for h in index.search(query, k=5)]

                metrics, _ = evaluate_retrieval(questions, retrieve, progress=False)
                rows.append((metrics["mrr"], metrics["hit@1"], metrics["hit@3"], max_chars, fusion, rrf_k, dense_weight))
    print("| max_chars | fusion | rrf_k | dense_weight | hit@1 | hit@3 | MRR |\n|---|---|---|---|---|---|---|")
    for mrr, h1, h3, max_chars, fusion, rrf_k, w in sorted(rows, reverse=True):
        print(f"| {max_chars} | {fusion} | {rrf_k or '-'} | {w} | {h1:.3f} | {h3:.3f} | {mrr:.3f} |")


if __name__ == "__main__":
    main()
