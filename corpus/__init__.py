"""Corpus: Q&A documents -> numbered question sections -> chunks for retrieval."""

from corpus.chunking import Chunk, ChunkConfig, chunk_sections
from corpus.loading import BUNDLED, Corpus, corpus_path, decode_text, default_corpus_path, load_corpus
from corpus.sections import Section, parse_sections

__all__ = [
    "Chunk",
    "ChunkConfig",
    "Corpus",
    "Section",
    "chunk_sections",
    "decode_text",
    "BUNDLED",
    "corpus_path",
    "default_corpus_path",
    "load_corpus",
    "parse_sections",
]
