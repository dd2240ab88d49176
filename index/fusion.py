"""Reciprocal-rank fusion of several rankings of the same items.

Each ranking gives ``weight / (k + rank)`` to the items it ranks (rank 1 = best); an item's
fused score is the sum. Items a ranking leaves out get nothing from it.

    >>> fuse_rankings({"dense": ["a", "b"], "bm25": ["b", "c"]}, k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence


def fuse_rankings(
    rankings: Mapping[str, Sequence[Hashable]],
    k: float = 60.0,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Fused (item, score) pairs, best first; ties keep first-seen order."""
    if k <= 0:
        raise ValueError(f"rrf k should be positive, got {k}")
    weights = weights or {}
    scores: dict[Hashable, float] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def fuse_scores(
    scores: Mapping[str, Mapping[Hashable, float]],
    weights: Mapping[str, float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Weighted sum of min-max normalised scores, best first.

    Each retriever's scores are rescaled to [0, 1] over the items it scored (best -> 1, worst
    -> 0; all equal -> 1); items it did not score get 0 from it.

    >>> fuse_scores({"dense": {"a": 0.5, "b": 0.3}, "bm25": {"b": 8.0, "c": 2.0}}, {"dense": 0.5})
    [('b', 1.0), ('a', 0.5), ('c', 0.0)]
    """
    weights = weights or {}
    fused: dict[Hashable, float] = {}
    for name, item_scores in scores.items():
        if not item_scores:
            continue
        low, high = min(item_scores.values()), max(item_scores.values())
        weight = weights.get(name, 1.0)
        for item, score in item_scores.items():
            scaled = (score - low) / (high - low) if high > low else 1.0
            fused[item] = fused.get(item, 0.0) + weight * scaled
    return sorted(fused.items(), key=lambda pair: -pair[1])
