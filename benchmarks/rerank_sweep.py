"""The model's reranking of the top sections (assistant/answer/rerank.py) against the search alone,
for each share of the model in the mixed score, on a dev question set.

    python benchmarks/rerank_sweep.py [--questions eval/collection_dev.jsonl] [--easy 30] [--all]

Reading ten sections costs about 9 s per question on 2 CPU cores, so by default the sweep reads a
stratified sample: every covered question whose gold section the search does not put first (where
reranking can help) and ``--easy`` of those it puts first (chosen with seed 7; where it can only
hurt). Metrics over the whole set are estimated by weighting the sampled easy questions by how
many they stand for; ``--all`` reads every question instead. The model is the configured one, read
as answers read it (``continuation_logprobs``, the adapter as answers use it). Writes each
question's candidates and scores to benchmarks/results/rerank_sweep.jsonl (``--out``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

from assistant.answer.followup import retrieval_query
from assistant.answer.rerank import PROMPT
from assistant.config import Config
from assistant.evaluation import load_questions
from assistant.llm import load_chat_model
from corpus import load_corpus
from index import open_index

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def first_relevant(order: list[str], relevant: set[str]) -> int | None:
    return next((rank for rank, ref in enumerate(order, 1) if ref in relevant), None)


def normalised(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    return [(v - low) / (high - low) if high > low else 0.0 for v in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", default=str(REPO / "eval" / "collection_dev.jsonl"))
    parser.add_argument("--easy", type=int, default=30, help="questions the search puts right first, sampled")
    parser.add_argument("--all", action="store_true", help="read every covered question")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "rerank_sweep.jsonl"))
    args = parser.parse_args()
    config = Config()
    retrieval = config.retrieval
    search_index = open_index(load_corpus(config.corpus.path), config.data_path, config.chunking, config.index,
                              replace(retrieval, rerank="off"))
    items = [q for q in load_questions(args.questions) if q.covered]
    found = {q.id: search_index.search(retrieval_query(q.question, list(q.history)), k=retrieval.rerank_candidates)
             for q in items}
    hard = [q for q in items if first_relevant([h.section_ref for h in found[q.id]], set(q.relevant)) != 1]
    easy = [q for q in items if q not in hard]
    sample = easy if args.all else random.Random(7).sample(easy, min(args.easy, len(easy)))
    weight_of_easy = len(easy) / len(sample) if sample else 0.0
    model = load_chat_model(config.llm, config.data_path)
    rows, seconds = [], []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as out:
        for n, q in enumerate(hard + sample, 1):
            started = time.perf_counter()
            candidates = []
            for hit in found[q.id]:
                lead = search_index.sections[hit.section_ref].lead_text(retrieval.rerank_lead_chars)
                logprobs = model.continuation_logprobs(PROMPT.format(lead=lead), q.question)
                candidates.append({"ref": hit.section_ref, "score": hit.score,
                                   "likelihood": sum(logprobs) / max(len(logprobs), 1)})
            seconds.append(time.perf_counter() - started)
            row = {"id": q.id, "type": q.type, "relevant": list(q.relevant), "easy": q not in hard,
                   "candidates": candidates}
            rows.append(row)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            print(f"\r{n}/{len(hard) + len(sample)} questions read", end="", flush=True)
    print(f"\n\n{len(items)} covered questions: {len(hard)} not first by the search (all read), "
          f"{len(sample)} of {len(easy)} first (each standing for {weight_of_easy:.2f}); "
          f"{statistics.median(seconds):.1f} s median per question to read {retrieval.rerank_candidates} sections\n")
    print("| model's share | hit@1 | hit@3 | hit@5 | MRR | moved up | moved down |\n|---|---|---|---|---|---|---|")
    for weight in WEIGHTS:
        totals = [0.0, 0.0, 0.0, 0.0]
        up = down = 0
        for row in rows:
            refs = [c["ref"] for c in row["candidates"]]
            search, read = normalised([c["score"] for c in row["candidates"]]), normalised(
                [c["likelihood"] for c in row["candidates"]])
            mixed = [(1 - weight) * s + weight * r for s, r in zip(search, read)]
            order = [refs[i] for i in sorted(range(len(refs)), key=lambda i: -mixed[i])]
            before, after = first_relevant(refs, set(row["relevant"])), first_relevant(order, set(row["relevant"]))
            up += (after or 99) < (before or 99)
            down += (after or 99) > (before or 99)
            share = weight_of_easy if row["easy"] else 1.0
            if after:
                totals = [totals[0] + share * (after == 1), totals[1] + share * (after <= 3),
                          totals[2] + share * (after <= 5), totals[3] + share / after]
        print(f"| {weight:.1f} | " + " | ".join(f"{t / len(items):.3f}" for t in totals) + f" | {up} | {down} |")


if __name__ == "__main__":
    main()
