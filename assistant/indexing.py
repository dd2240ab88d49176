"""Open the search index a config describes (building it on first use)."""

from __future__ import annotations

from corpus import load_corpus
from index import SearchIndex, open_index

from assistant.config import Config


def open_search_index(config: Config, progress: bool = True, rebuild: bool = False, encoder=None) -> SearchIndex:
    """Load the config's corpus and return its index, reusing a saved one when it still matches."""
    corpus = load_corpus(config.corpus.path)
    return open_index(
        corpus,
        config.data_path,
        chunking=config.chunking,
        config=config.index,
        retrieval=config.retrieval,
        encoder=encoder,
        progress=progress,
        rebuild=rebuild,
    )
