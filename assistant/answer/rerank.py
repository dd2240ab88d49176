"""A second look at the top sections by the model: how likely the learner's question is after each
section's opening (query likelihood, as UPR does: Sachan et al. 2022, "Improving Passage Retrieval
with Zero-Shot Question Generation").

The search ranks sections by matching the question against their words and headings. The model
reads each of the top ``rerank_candidates`` sections' title and opening and scores the question's
tokens after it; the mean log-probability, min-max normalised over the candidates, is mixed with the
search's own normalised score at ``rerank_weight``. Only the order changes: each hit keeps its
search scores, which the refusal gate and the source selection read.

It costs one forward pass of about 70 tokens per candidate: about 9 s for ten on a 2-core CPU, so
``rerank = "auto"`` turns it on only where the model runs in-process on a GPU (benchmarks/README.md,
"Reranking by the model"; ``benchmarks/gpu_check.sh`` times it there). When the model fails to read,
the search's order is kept and a warning says why: an answer never fails for its reranking.
"""

from __future__ import annotations

import logging

from index import Hit, SearchIndex
from index.search import RetrievalConfig

from assistant.llm.base import ChatModel

log = logging.getLogger(__name__)

_WARNED: set[str] = set()  # backends already warned that they cannot rerank
PROMPT = "笔记：{lead}\n这段笔记回答的问题："  # the question's tokens are scored after it


def reranks(config: RetrievalConfig, model: ChatModel | None) -> bool:
    """Whether searches with this model are reranked: ``rerank`` "on" (the model must score texts),
    "off", or "auto" (on when the model scores texts in-process on a GPU)."""
    if config.rerank == "off" or model is None:
        return False
    if not model.capabilities.scoring:
        if config.rerank == "on" and type(model).__name__ not in _WARNED:
            _WARNED.add(type(model).__name__)
            log.warning("rerank = \"on\", but %s cannot score a given text: answers are not reranked.",
                        type(model).__name__)
        return False
    return config.rerank == "on" or str(getattr(model, "device", "cpu")).startswith("cuda")


def rerank(index: SearchIndex, model: ChatModel, question: str, hits: list[Hit],
           config: RetrievalConfig | None = None) -> list[Hit]:
    """``hits`` with the first ``rerank_candidates`` reordered by the mix of their search score and
    the model's likelihood of ``question`` after each one's opening; the rest follow as they were."""
    config = config or index.config
    head, tail = hits[: config.rerank_candidates], hits[config.rerank_candidates :]
    if len(head) < 2 or not config.rerank_weight:
        return list(hits)
    likelihood = []
    try:
        for hit in head:
            lead = index.sections[hit.section_ref].lead_text(config.rerank_lead_chars)
            logprobs = model.continuation_logprobs(PROMPT.format(lead=lead), question)
            likelihood.append(sum(logprobs) / len(logprobs) if logprobs else 0.0)
    except Exception as err:  # a model error (out of memory, a backend fault): the search's order stands
        log.warning("Reranking failed (%s: %s); the search's order is kept.", type(err).__name__, err)
        return list(hits)
    search, read = _normalised([hit.score for hit in head]), _normalised(likelihood)
    mixed = [(1 - config.rerank_weight) * s + config.rerank_weight * r for s, r in zip(search, read)]
    order = sorted(range(len(head)), key=lambda i: -mixed[i])  # stable: ties keep the search's order
    log.debug("rerank %s -> %s", [h.section_ref for h in head], [head[i].section_ref for i in order])
    return [head[i] for i in order] + tail


def _normalised(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    return [(v - low) / (high - low) if high > low else 0.0 for v in values]
