"""Exact (IndexFlatIP) vs approximate (IndexHNSWFlat) vector search: when does HNSW pay?

    python benchmarks/vector_index.py --sizes 20000 100000 200000

Vectors are 512-d with a low intrinsic dimension, as sentence embeddings have: 64-d latent points
around 2,000 topic centres, mapped to 512-d by a fixed random matrix, plus a little isotropic
noise, L2-normalised. Queries are held-out points of the same distribution. Reports build time, p50 latency per query
(one query at a time, as the assistant searches) and HNSW recall@10 against exact search; writes
the rows to benchmarks/results/vector_index.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from index.vectors import VectorIndex


LATENT = 64
REPO = Path(__file__).resolve().parents[1]


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    latent = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.normal(size=(n, LATENT))
    points = latent @ mapping + 0.05 * rng.normal(size=(n, mapping.shape[1]))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 200_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "vector_index.json"))
    args = parser.parse_args()
    rows = []
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2000, LATENT))
    mapping = rng.normal(size=(LATENT, args.dim)) / np.sqrt(LATENT)
    print("| vectors | index | build s | p50 ms/query | recall@10 |\n|---|---|---|---|---|")
    for n in args.sizes:
        data = clustered(n, rng, centres, mapping)
        queries = clustered(args.queries, rng, centres, mapping)
        exact_ids = None
        for kind in ("flat", "hnsw"):
            started = time.perf_counter()
            index = VectorIndex.build(data, kind=kind)
            build_s = time.perf_counter() - started
            times, found = [], []
            for q in queries:
                t = time.perf_counter()
                _, ids = index.search(q, 10)
                times.append((time.perf_counter() - t) * 1000)
                found.append(ids)
            if kind == "flat":
                exact_ids = found
                recall = 1.0
            else:
                recall = np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, exact_ids)])
            p50 = statistics.median(times)
            rows.append({"vectors": n, "index": kind, "build_s": round(build_s, 2), "p50_ms": round(p50, 3),
                         "recall_at_10": round(float(recall), 4)})
            print(f"| {n:,} | {kind} | {build_s:.1f} | {p50:.2f} | {recall:.3f} |", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dim": args.dim, "queries": args.queries, "rows": rows}, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
