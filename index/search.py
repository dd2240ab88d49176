"""Hybrid search: dense (FAISS) and BM25 rankings of chunks and dense matches of question
headings, fused per question section.

Each chunk retriever (the main encoder through FAISS, BM25, and the heading encoder over the
chunks) scores its top chunks and a section takes its best chunk's score from it; the heading
fields score each section's heading (``Section.heading_text``) directly, once with the main
encoder and once with the heading encoder. The per-section results are fused, by weighted
normalised scores (``fusion = "score"``) or by reciprocal rank (``"rrf"``). A hit is one section,
shown through its best-matching chunk, with the fused score and each retriever's own score.
Learners' questions paraphrase the printed questions, so the heading fields carry much of the
ranking on a large corpus (benchmarks/retrieval_levers.py).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass

import numpy as np

from corpus import Chunk, Section
from corpus.scopes import check_scope, in_scope, normalise_scope
from index.encoders import Encoder, embed_queries
from index.fusion import fuse_rankings, fuse_scores
from index.lexical import BM25Index, ChineseTokenizer
from index.vectors import VectorIndex

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("rrf", "score")
RERANKS = ("auto", "on", "off")
# BLAS threads while a query is searched (None: leave them as they are). A query's products with the
# heading matrices are too small to share; a second BLAS thread only spins on after them, against the
# heading encoder's own threads. On 2 cores, this and USE's one thread for a query together cut search
# time from 91.0 to 34.0 ms (p50, benchmarks/search_latency.py).
QUERY_BLAS_THREADS: int | None = 1


@dataclass(frozen=True)
class RetrievalConfig:
    """How a query is turned into ranked sections."""

    k: int = 5  # sections returned by a search
    mode: str = "hybrid"  # "hybrid" (fused), or "dense" / "bm25" alone for comparison
    candidates: int = 100  # chunks taken from each retriever before fusing
    fusion: str = "score"  # "score" (weighted min-max normalised scores, dev-tuned) or "rrf" (reciprocal rank)
    rrf_k: float = 10.0  # reciprocal-rank constant for fusion = "rrf": smaller trusts the top ranks more
    dense_weight: float = 0.5  # weight of the dense retriever in the fusion (dev-tuned; BM25 weighs 1)
    bm25_weight: float = 1.0  # weight of the BM25 ranking in the fusion
    heading_weight: float = 0.5  # weight of the headings matched by the main encoder (dev-tuned)
    heading_encoder_weight: float = 1.0  # weight of the heading encoder's field (each question's title and
    # the opening of its answer, ``IndexConfig.heading_lead_chars``; dev-tuned)
    chunk_encoder_weight: float = 0.5  # weight of the heading encoder's field over the chunks
    # (``IndexConfig.heading_encoder_chunks``; dev-tuned)
    max_query_chars: int = 2000  # longer queries are cut to this, with a warning
    # The model's second look at the top sections (assistant/answer/rerank.py; the index itself
    # never reranks): "auto" = where the model runs in-process on a GPU, "on", "off".
    rerank: str = "auto"
    rerank_candidates: int = 10  # top sections the model reads
    rerank_weight: float = 0.5  # the model's share of the mixed score (dev-tuned)
    rerank_lead_chars: int = 80  # how much of each section's answer the model reads after its title

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"k should be positive, got {self.k}")
        if self.mode not in MODES:
            raise ValueError(f"mode should be one of {MODES}, got {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion should be one of {FUSIONS}, got {self.fusion!r}")
        if self.candidates < 1:
            raise ValueError(f"candidates should be positive, got {self.candidates}")
        if self.rrf_k <= 0:
            raise ValueError(f"rrf_k should be positive, got {self.rrf_k}")
        if self.max_query_chars < 1:
            raise ValueError(f"max_query_chars should be positive, got {self.max_query_chars}")
        if self.rerank not in RERANKS:
            raise ValueError(f"rerank should be one of {RERANKS}, got {self.rerank!r}")
        if self.rerank_candidates < 1:
            raise ValueError(f"rerank_candidates should be positive, got {self.rerank_candidates}")
        if not 0 <= self.rerank_weight <= 1:
            raise ValueError(f"rerank_weight should be between 0 and 1, got {self.rerank_weight}")
        if self.rerank_lead_chars < 0:
            raise ValueError(f"rerank_lead_chars should be >= 0, got {self.rerank_lead_chars}")


@dataclass(frozen=True)
class Hit:
    """One retrieved section, shown through its best-matching chunk."""

    chunk: Chunk
    score: float  # fused score (reciprocal-rank sum); only comparable within one query
    dense_score: float | None  # cosine similarity of the section's best chunk, None if not a candidate
    bm25_score: float | None  # BM25 score of the section's best chunk, None if not a candidate
    heading_score: float | None = None  # cosine similarity of the question to the section's heading
    # by the heading encoder (by the main encoder when there is none), None if not a candidate

    @property
    def section_ref(self) -> str:
        return self.chunk.section_ref

    def to_dict(self) -> dict:
        """JSON-ready: doc, section number, title, chunk text and the three scores."""
        return {
            "doc": self.chunk.doc,
            "section": self.chunk.number,
            "section_ref": self.chunk.section_ref,
            "title": self.chunk.title,
            "chunk_id": self.chunk.id,
            "text": self.chunk.text,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "bm25_score": None if self.bm25_score is None else round(self.bm25_score, 6),
            "heading_score": None if self.heading_score is None else round(self.heading_score, 6),
        }


class EmptyQueryError(ValueError):
    """The query has no searchable text."""


class SearchIndex:
    """Chunks of a corpus with their dense vectors and BM25 index, and each section's heading vectors
    (``headings`` by the main encoder, ``heading_vectors`` by ``heading_encoder``, rows in the order
    of ``sections``), and the chunks by the heading encoder too (``chunk_vectors``, rows in the
    order of ``chunks``); ``search`` ranks sections."""

    def __init__(
        self,
        sections: list[Section],
        chunks: list[Chunk],
        vectors: VectorIndex,
        bm25: BM25Index,
        encoder: Encoder,
        tokenizer: ChineseTokenizer,
        config: RetrievalConfig | None = None,
        manifest: dict | None = None,
        chunk_tokens: list[list[str]] | None = None,
        headings: np.ndarray | None = None,
        heading_encoder: Encoder | None = None,
        heading_vectors: np.ndarray | None = None,
        chunk_vectors: np.ndarray | None = None,
    ):
        if len(vectors) != len(chunks):
            raise ValueError(f"{len(vectors)} vectors for {len(chunks)} chunks")
        if chunk_vectors is not None and len(chunk_vectors) != len(chunks):
            raise ValueError(f"{len(chunk_vectors)} chunk_vectors for {len(chunks)} chunks")
        if chunk_vectors is not None and heading_encoder is None:
            raise ValueError("chunk_vectors need the heading_encoder that made them")
        for name, matrix in (("headings", headings), ("heading_vectors", heading_vectors)):
            if matrix is not None and len(matrix) != len(sections):
                raise ValueError(f"{len(matrix)} {name} for {len(sections)} sections")
        if (heading_encoder is None) != (heading_vectors is None):
            raise ValueError("heading_vectors and heading_encoder come together")
        self.sections = {s.ref: s for s in sections}
        self._section_refs = [s.ref for s in sections]
        self.headings = headings
        self.heading_encoder = heading_encoder
        self.heading_vectors = heading_vectors
        self.chunk_vectors = chunk_vectors
        self.chunks = chunks
        self.vectors = vectors
        self.bm25 = bm25
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.config = config or RetrievalConfig()
        self.manifest = manifest or {}
        # BM25 terms of each chunk, kept from indexing so answers can be checked against them.
        self._terms = {c.id: frozenset(t) for c, t in zip(chunks, chunk_tokens or [])}
        self._scope_rows: dict[tuple[str, ...], np.ndarray] = {}
        self._scope_section_rows: dict[tuple[str, ...], np.ndarray] = {}
        self._first_chunk: dict[str, int] = {}  # section ref -> row of its first chunk
        for row, chunk in enumerate(chunks):
            self._first_chunk.setdefault(chunk.section_ref, row)

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               scope: str | list[str] | tuple[str, ...] | None = None) -> list[Hit]:
        """The k best sections for a query, best first, from the chapters in ``scope`` (folder or
        file prefixes; None: the whole corpus).

        Raises EmptyQueryError for a blank query and UnknownScopeError for a scope that names
        nothing in the corpus; a query longer than ``max_query_chars`` is truncated with a warning.
        """
        query = self._clean_query(query)
        k = k or self.config.k
        mode = mode or self.config.mode
        if mode not in MODES:
            raise ValueError(f"mode should be one of {MODES}, got {mode!r}")
        if QUERY_BLAS_THREADS is None:
            return self._search(query, k, mode, scope)
        with _search_lock, _blas_libraries().limit(limits=QUERY_BLAS_THREADS, user_api="blas"):
            return self._search(query, k, mode, scope)

    def _search(self, query: str, k: int, mode: str, scope) -> list[Hit]:
        rows = self.scope_rows(scope)
        chunk_scores = {}  # retriever -> {chunk row: score} for its top candidates
        if mode in ("hybrid", "dense"):
            vector = self.encoder.embed_batch([query])[0]
            chunk_scores["dense"] = self._dense(vector, rows)
        if mode in ("hybrid", "bm25"):
            chunk_scores["bm25"] = self._bm25(query, rows)
        second = self._heading_encoder_query(query) if mode == "hybrid" else None
        if second is not None and self.chunk_vectors is not None and self.config.chunk_encoder_weight:
            chunk_scores["chunk_encoder"] = self._top_chunks(self.chunk_vectors @ second, rows)
        section_scores = {name: _best_per_section(s, self.chunks) for name, s in chunk_scores.items()}
        if mode == "hybrid":
            section_scores.update(self._heading_scores(vector, second, scope))
        heading_scores = section_scores.get("heading_encoder", section_scores.get("heading", {}))

        fused_sections = self._fuse(section_scores)[:k]
        # Within a section, show the chunk that the retrievers agree on best.
        best_chunk: dict[str, int] = {}
        for i, _ in self._fuse(chunk_scores):
            best_chunk.setdefault(self.chunks[i].section_ref, i)

        return [
            Hit(
                chunk=self.chunks[best_chunk.get(ref, self._first_chunk[ref])],
                score=float(score),
                dense_score=section_scores.get("dense", {}).get(ref),
                bm25_score=section_scores.get("bm25", {}).get(ref),
                heading_score=heading_scores.get(ref),
            )
            for ref, score in fused_sections
        ]

    def scope_rows(self, scope) -> np.ndarray | None:
        """Chunk rows inside ``scope`` (None when the scope is the whole corpus)."""
        scope = normalise_scope(scope)
        if not scope:
            return None
        if scope not in self._scope_rows:
            check_scope(scope, {chunk.doc for chunk in self.chunks})
            self._scope_rows[scope] = np.array(
                [i for i, chunk in enumerate(self.chunks) if in_scope(chunk.doc, scope)], dtype=np.int64)
        return self._scope_rows[scope]

    def _scope_sections(self, scope) -> np.ndarray | None:
        """Section rows (in ``sections`` order) inside ``scope``; None for the whole corpus."""
        scope = normalise_scope(scope)
        if not scope:
            return None
        if scope not in self._scope_section_rows:
            self.scope_rows(scope)  # checks the scope
            self._scope_section_rows[scope] = np.array(
                [i for i, ref in enumerate(self._section_refs) if in_scope(self.sections[ref].doc, scope)],
                dtype=np.int64)
        return self._scope_section_rows[scope]

    def _heading_encoder_query(self, query: str) -> np.ndarray | None:
        """The query by the heading encoder, None when no field of it is searched."""
        if self.heading_encoder is None or not (
                self.config.heading_encoder_weight
                or self.chunk_vectors is not None and self.config.chunk_encoder_weight):
            return None
        return embed_queries(self.heading_encoder, [query])[0]

    def _heading_scores(self, vector: np.ndarray, second: np.ndarray | None, scope) -> dict[str, dict[str, float]]:
        """Heading field -> {section ref: cosine} for its top candidates among the sections in scope
        (``vector``: the query by the main encoder, ``second`` by the heading encoder)."""
        rows = self._scope_sections(scope)
        fields = {}
        if self.headings is not None and self.config.heading_weight:
            fields["heading"] = self._top_sections(self.headings @ vector, rows)
        if self.heading_vectors is not None and second is not None and self.config.heading_encoder_weight:
            fields["heading_encoder"] = self._top_sections(self.heading_vectors @ second, rows)
        return fields

    def _top_chunks(self, scores: np.ndarray, rows: np.ndarray | None) -> dict[int, float]:
        """Chunk row -> score for the top candidates (among ``rows``)."""
        return dict(zip(*self._top(scores, rows)))

    def _top_sections(self, scores: np.ndarray, rows: np.ndarray | None) -> dict[str, float]:
        positions, best = self._top(scores, rows)
        return {self._section_refs[i]: score for i, score in zip(positions, best)}

    def _top(self, scores: np.ndarray, rows: np.ndarray | None) -> tuple[list[int], list[float]]:
        """Positions and scores of the ``candidates`` best of ``scores`` (among ``rows``)."""
        if rows is not None:
            kept = np.full_like(scores, -np.inf)
            kept[rows] = scores[rows]
            scores = kept
        n = min(self.config.candidates, len(scores) if rows is None else len(rows))
        top = np.argpartition(-scores, n - 1)[:n] if n else []
        return [int(i) for i in top], [float(scores[i]) for i in top]

    def _fuse(self, scores: dict[str, dict]) -> list[tuple]:
        weights = {"dense": self.config.dense_weight, "bm25": self.config.bm25_weight,
                   "heading": self.config.heading_weight, "heading_encoder": self.config.heading_encoder_weight,
                   "chunk_encoder": self.config.chunk_encoder_weight}
        if self.config.fusion == "score":
            return fuse_scores(scores, weights)
        rankings = {name: sorted(s, key=lambda item: -s[item]) for name, s in scores.items()}
        return fuse_rankings(rankings, k=self.config.rrf_k, weights=weights)

    @functools.cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every term of every chunk (the BM25 vocabulary)."""
        return frozenset().union(*(self.terms(chunk) for chunk in self.chunks))

    @functools.cached_property
    def text(self) -> str:
        """Every chunk's embed text, lower-cased: for asking whether the corpus mentions a name."""
        return "\n".join(chunk.embed_text for chunk in self.chunks).lower()

    def section_terms(self, ref: str) -> frozenset[str]:
        """The BM25 terms of all of a section's chunks."""
        return self._section_terms[ref]

    def section_frequency(self, term: str) -> int:
        """How many sections have ``term`` among their BM25 terms."""
        return self._section_frequency.get(term, 0)

    @functools.cached_property
    def _section_terms(self) -> dict[str, frozenset[str]]:
        terms: dict[str, set[str]] = {}
        for chunk in self.chunks:
            terms.setdefault(chunk.section_ref, set()).update(self.terms(chunk))
        return {ref: frozenset(t) for ref, t in terms.items()}

    @functools.cached_property
    def _section_frequency(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for terms in self._section_terms.values():
            for term in terms:
                counts[term] = counts.get(term, 0) + 1
        return counts

    def terms(self, chunk: Chunk) -> frozenset[str]:
        """The BM25 terms of a chunk's embed text (title, sub-heading, text)."""
        if chunk.id not in self._terms:
            self._terms[chunk.id] = frozenset(self.tokenizer.tokenize(chunk.embed_text))
        return self._terms[chunk.id]

    def _clean_query(self, query: str) -> str:
        query = (query or "").strip()
        if not query:
            raise EmptyQueryError("The query is empty: type a question or some keywords.")
        limit = self.config.max_query_chars
        if len(query) > limit:
            log.warning("Query is %d characters long; searching with its first %d.", len(query), limit)
            query = query[:limit]
        return query

    def _dense(self, vector: np.ndarray, rows: np.ndarray | None = None) -> dict[int, float]:
        """Chunk row -> cosine similarity to the query's vector for the top candidates (among ``rows``)."""
        scores, ids = self.vectors.search(vector, self.config.candidates, rows=rows)
        return {int(i): float(s) for s, i in zip(scores, ids)}

    def _bm25(self, query: str, rows: np.ndarray | None = None) -> dict[int, float]:
        """Chunk row -> BM25 score for the top candidates with a positive score (among ``rows``)."""
        scores = self.bm25.scores(self.tokenizer.tokenize_query(query))
        if rows is not None:
            kept = np.zeros_like(scores)
            kept[rows] = scores[rows]
            scores = kept
        n = min(self.config.candidates, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n else []
        return {int(i): float(scores[i]) for i in top if scores[i] > 0}

    def info(self) -> dict:
        """What the index holds, for ``study-assistant index info``."""
        return {**self.manifest, "vector_index": self.vectors.kind}


@functools.cache
def _blas_libraries():
    """The BLAS libraries loaded before the first search (numpy's, faiss's: the ones a search
    multiplies with), found once: looking them up takes milliseconds, setting their thread count
    microseconds."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


# One search at a time under the limit: the thread count is the process's, and two searches that set
# and lift it in turn could lift it while the other runs, or leave it lowered after both. A search
# takes about 27 ms on the collection, and two at once on 2 cores would gain nothing.
_search_lock = threading.Lock()


def _best_per_section(chunk_scores: dict[int, float], chunks: list[Chunk]) -> dict[str, float]:
    """A section's score is its best chunk's: {0: .2, 1: .9} with both in "d#1" -> {"d#1": .9}."""
    best: dict[str, float] = {}
    for i, score in chunk_scores.items():
        ref = chunks[i].section_ref
        if score > best.get(ref, float("-inf")):
            best[ref] = score
    return best
