"""Retrieval benchmark: quality per retriever on the seed corpus, speed and memory at full scale.

    python benchmarks/retrieval_bench.py                      # all parts
    python benchmarks/retrieval_bench.py --skip-scale         # seed quality only

Parts:
1. Full public corpus (../shared/corpora/wethinkin, read by path): parse time, index build time
   (fresh data dir), reopen time, peak RSS, search latency p50/p95 per mode over the eval
   questions (warm, one query at a time), and the seed held-out questions searched over the whole
   corpus (strict: only the seed's source file counts as gold).
2. Seed corpus, held-out set: hit@1/3/5 and MRR for dense only, BM25 only and fused.

Writes benchmarks/results/retrieval.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from assistant.config import Config
from assistant.evaluation import evaluate_retrieval, load_questions
from assistant.answer.followup import retrieval_query
from corpus import load_corpus
from index import open_index

REPO = Path(__file__).resolve().parents[1]
WETHINKIN = REPO.parent / "shared" / "corpora" / "wethinkin"
SEED_SOURCE = "机器学习优化方法知识点"  # the wethinkin file the seed document was cut from
MODES = ("dense", "bm25", "hybrid")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quality(index, questions, gold_prefix: str = "") -> dict:
    if gold_prefix:
        questions = [replace(q, gold_sections=tuple(f"{gold_prefix}#{g.rpartition('#')[2]}" for g in q.gold_sections))
                     for q in questions]
    out = {}
    for mode in MODES:
        def retrieve(item, mode=mode):
            query = retrieval_query(item.question, list(item.history))
            return [h.section_ref for h in index.search(query, k=5, mode=mode)]

        metrics, _ = evaluate_retrieval(questions, retrieve, progress=False)
        out[mode] = metrics
    return out


def scale(questions) -> dict:
    config = Config()
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        corpus = load_corpus(WETHINKIN)
        parse_s = time.perf_counter() - started
        started = time.perf_counter()
        index = open_index(corpus, Path(data_dir), config.chunking, config.index, config.retrieval, progress=False)
        build_s = time.perf_counter() - started
        rss_after_build = peak_rss_mb()
        started = time.perf_counter()
        reopened = open_index(load_corpus(WETHINKIN), Path(data_dir), config.chunking, config.index,
                              config.retrieval, encoder=index.encoder, progress=False)
        reopen_s = time.perf_counter() - started

        queries = [q.question for q in questions] * 3
        latency = {}
        for mode in MODES:
            reopened.search("warm up", mode=mode)
            times = []
            for query in queries:
                t = time.perf_counter()
                reopened.search(query, k=5, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            latency[mode] = {"p50_ms": round(statistics.median(times), 2),
                             "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2), "n": len(times)}
        return {
            "files_with_questions": len(corpus.files),
            "files_skipped": len(corpus.skipped),
            "sections": len(corpus.sections),
            "chunks": len(index.chunks),
            "vector_index": index.vectors.kind,
            "parse_s": round(parse_s, 2),
            "build_s": round(build_s, 2),
            "parse_plus_build_s": round(parse_s + build_s, 2),
            "reopen_s": round(reopen_s, 2),
            "peak_rss_mb_after_build": round(rss_after_build, 1),
            "latency": latency,
            "seed_questions_over_full_corpus": quality(reopened, [q for q in questions if q.covered], SEED_SOURCE),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", default=str(REPO / "eval" / "heldout.jsonl"))
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "retrieval.json"))
    args = parser.parse_args()
    questions = load_questions(args.questions)
    results = {"questions": args.questions, "config": {"chunking": vars(Config().chunking),
                                                       "retrieval": vars(Config().retrieval)}}
    if not args.skip_scale:
        if not WETHINKIN.exists():
            raise SystemExit(f"{WETHINKIN} not found; pass --skip-scale")
        results["scale"] = scale(questions)
    with tempfile.TemporaryDirectory() as data_dir:
        config = Config()
        index = open_index(load_corpus("seed"), Path(data_dir), config.chunking, config.index, config.retrieval, progress=False)
        results["seed"] = quality(index, questions)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")
    print_tables(results)


def print_tables(results: dict) -> None:
    print("\n## Seed corpus, held-out questions (section level)\n")
    print("| retriever | n | hit@1 | hit@3 | hit@5 | MRR |\n|---|---|---|---|---|---|")
    for mode, m in results["seed"].items():
        print(f"| {mode} | {m['n']} | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['hit@5']:.3f} | {m['mrr']:.3f} |")
    scale_results = results.get("scale")
    if not scale_results:
        return
    s = scale_results
    print(f"\n## Full corpus: {s['sections']} sections, {s['chunks']} chunks, {s['files_with_questions']} files\n")
    print(f"- parse {s['parse_s']} s + build {s['build_s']} s = {s['parse_plus_build_s']} s; reopen {s['reopen_s']} s; "
          f"peak RSS {s['peak_rss_mb_after_build']} MB; vector index {s['vector_index']}")
    print("\n| retriever | p50 ms | p95 ms | hit@1 | hit@3 | MRR (seed questions, strict gold) |\n|---|---|---|---|---|---|")
    for mode in MODES:
        lat, q = s["latency"][mode], s["seed_questions_over_full_corpus"][mode]
        print(f"| {mode} | {lat['p50_ms']} | {lat['p95_ms']} | {q['hit@1']:.3f} | {q['hit@3']:.3f} | {q['mrr']:.3f} |")


if __name__ == "__main__":
    main()
