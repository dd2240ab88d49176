"""Search latency on the default corpus (the bundled collection), one query at a time, warm.

    python benchmarks/search_latency.py [--questions eval/collection_dev.jsonl] [--rounds 3]

Each question is searched as the product searches it (a follow-up together with the previous user
turn). Two settings take turns, round by round, in one process, so both see the same machine:

- "one BLAS thread": how ``SearchIndex.search`` runs (``index.search.QUERY_BLAS_THREADS = 1``, and
  USE embeds a query on one thread);
- "BLAS threads as loaded": both left at the library defaults (every core).

Prints p50 / p95 in ms per setting and whether both gave the same five sections for every query;
writes them to benchmarks/results/search_latency.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import index.search
from assistant.answer.followup import retrieval_query
from assistant.config import Config
from assistant.evaluation import load_questions
from corpus import load_corpus
from index import open_index
from index.encoders import USEEncoder

REPO = Path(__file__).resolve().parents[1]


def set_threads(one: bool) -> None:
    index.search.QUERY_BLAS_THREADS = 1 if one else None
    USEEncoder.QUERY_BATCH = 4 if one else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", default=str(REPO / "eval" / "collection_dev.jsonl"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "search_latency.json"))
    args = parser.parse_args()
    config = Config()
    search_index = open_index(load_corpus(config.corpus.path), config.data_path, config.chunking, config.index,
                              config.retrieval)
    queries = [retrieval_query(q.question, list(q.history)) for q in load_questions(args.questions)]
    settings = {"one BLAS thread": True, "BLAS threads as loaded": False}
    times = {name: [] for name in settings}
    found = {name: [] for name in settings}
    for name, one in settings.items():  # warm-up
        set_threads(one)
        for query in queries[:5]:
            search_index.search(query)
    for _ in range(args.rounds):
        for name, one in settings.items():
            set_threads(one)
            hits = []
            for query in queries:
                started = time.perf_counter()
                result = search_index.search(query, k=5)
                times[name].append((time.perf_counter() - started) * 1000)
                hits.append([hit.section_ref for hit in result])
            found[name] = hits
    set_threads(True)
    print(f"{len(queries)} queries x {args.rounds} rounds, {len(search_index.sections)} sections, {len(search_index.chunks)} chunks\n")
    print("| setting | p50 ms | p95 ms |\n|---|---|---|")
    results = {"questions": args.questions, "rounds": args.rounds, "settings": {}}
    for name, values in times.items():
        values = sorted(values)
        p50, p95 = statistics.median(values), values[int(0.95 * (len(values) - 1))]
        results["settings"][name] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "n": len(values)}
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    same = sum(a == b for a, b in zip(*found.values()))
    results["same_sections"] = same
    print(f"\nsame five sections in both settings: {same} of {len(queries)} queries")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
