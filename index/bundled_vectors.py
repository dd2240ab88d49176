"""Write the heading encoder's vectors for the bundled collection into the package
(``index/data/vectors/<encoder id>.npz``, see ``VectorCache``): run after the collection, the
heading encoder or ``IndexConfig.heading_lead_chars`` changes; ``tests/test_headings.py`` fails
while the shipped file is stale.

    python -m index.bundled_vectors
"""

from __future__ import annotations

import time

from corpus import load_corpus

from index.encoders import BUNDLED_VECTORS, VectorCache, embed, make_heading_encoder
from index.store import IndexConfig, heading_encoder_texts


def main() -> None:
    config = IndexConfig()
    encoder = make_heading_encoder(config.heading_encoder)
    texts = list(dict.fromkeys(heading_encoder_texts(load_corpus("wethinkin").sections, config)))
    started = time.perf_counter()
    vectors = embed(encoder, texts, what="headings")
    path = BUNDLED_VECTORS / f"{encoder.id.replace('/', '_')}.npz"
    VectorCache.save(path, texts, vectors)
    print(f"{len(texts)} texts embedded by {encoder.id} in {time.perf_counter() - started:.1f} s -> {path}")


if __name__ == "__main__":
    main()
