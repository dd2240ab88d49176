"""Write the heading encoder's vectors for the bundled collection into the package
(``index/data/vectors/<encoder id>.npz``, see ``VectorCache``): each question's lead text
(``IndexConfig.heading_lead_chars``) and, with ``IndexConfig.heading_encoder_chunks``, every chunk.
Run it after the collection, the chunking, the heading encoder or the lead length changes; texts
the shipped file already holds are not embedded again. ``tests/test_headings.py`` fails while the
shipped file is stale.

    python -m index.bundled_vectors
"""

from __future__ import annotations

import time

from corpus import load_corpus
from corpus.chunking import ChunkConfig, chunk_sections

from index.encoders import BUNDLED_VECTORS, VectorCache, embed, make_heading_encoder
from index.store import IndexConfig, heading_encoder_texts


def bundled_texts(config: IndexConfig | None = None, chunking: ChunkConfig | None = None) -> list[str]:
    """What the default index of the bundled collection asks the heading encoder to embed."""
    config = config or IndexConfig()
    sections = load_corpus("wethinkin").sections
    texts = heading_encoder_texts(sections, config)
    if config.heading_encoder_chunks:
        texts += [chunk.embed_text for chunk in chunk_sections(sections, chunking or ChunkConfig())]
    return list(dict.fromkeys(texts))


def main() -> None:
    config = IndexConfig()
    encoder = make_heading_encoder(config.heading_encoder)
    texts = bundled_texts(config)
    started = time.perf_counter()
    vectors = embed(encoder, texts, what="texts", cache=VectorCache.bundled(encoder.id, encoder.dim))
    path = BUNDLED_VECTORS / f"{encoder.id.replace('/', '_')}.npz"
    VectorCache.save(path, texts, vectors)
    print(f"{len(texts)} texts embedded by {encoder.id} in {time.perf_counter() - started:.1f} s -> {path}")


if __name__ == "__main__":
    main()
