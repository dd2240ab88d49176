"""Index: dense (FAISS) + BM25 (jieba) retrieval over corpus chunks, saved with a manifest."""

from index.encoders import DEFAULT_ENCODER, Encoder, embed, make_encoder
from index.fusion import fuse_rankings
from index.search import EmptyQueryError, Hit, RetrievalConfig, SearchIndex
from index.store import CorruptIndexError, IndexConfig, open_index

__all__ = [
    "DEFAULT_ENCODER",
    "CorruptIndexError",
    "EmptyQueryError",
    "Encoder",
    "Hit",
    "IndexConfig",
    "RetrievalConfig",
    "SearchIndex",
    "embed",
    "fuse_rankings",
    "make_encoder",
    "open_index",
]
