"""``StudyAssistant``: retrieve sections, ask the local LLM, return a cited ``Answer``.

    assistant = StudyAssistant.from_config(None)          # bundled corpus and model
    answer = assistant.ask("L1正则为什么容易产生稀疏解？")
    answer.text, answer.citations, answer.refused

When retrieval finds nothing that shares the question's terms (confidence below
``answer.min_confidence``), the assistant says the corpus does not cover the question and lists
the closest sections, without calling the LLM.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from index import Hit, SearchIndex

from assistant.followup import retrieval_query
from assistant.prompting import (
    build_bare_messages,
    build_messages,
    drop_invalid_citations,
    parse_citations,
    question_language,
    refusal_text,
)


@dataclass(frozen=True)
class AnswerConfig:
    """How many sources an answer gets and when to refuse without asking the model."""

    k: int = 3  # sections given to the model as numbered sources
    min_confidence: float = 0.05  # retrieval confidence below this: refuse without the LLM (dev: 0 false refusals)

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"answer k should be positive, got {self.k}")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence should be in [0, 1], got {self.min_confidence}")


@dataclass
class Answer:
    """What the assistant says, where it came from, and how long it took."""

    text: str
    citations: list[dict]  # sources actually cited: {"n", "ref", "doc", "section", "title"}
    sources: list[Hit]  # the sections given to the model, numbered [1].. in order
    refused: bool  # True when the answer is "the corpus does not cover this"
    timings: dict = field(default_factory=dict)  # seconds: retrieve, first_token, total
    dropped_citations: int = 0  # citation marks to numbers that were not given, removed from text
    query: str = ""  # what was searched (the question, or it with the previous turn)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "citations": self.citations,
            "sources": [hit.to_dict() for hit in self.sources],
            "refused": self.refused,
            "timings": self.timings,
            "dropped_citations": self.dropped_citations,
            "query": self.query,
        }


def retrieval_confidence(index: SearchIndex, query: str, hits: list[Hit]) -> float:
    """Share of the query's search terms that occur in the retrieved sources, in [0, 1].

    "How long should I boil an egg?" over the ML notes -> 0.0; "L1为什么稀疏" -> 1.0.
    """
    terms = set(index.tokenizer.tokenize_query(query))
    if not terms or not hits:
        return 0.0
    found: set[str] = set()
    for hit in hits:
        found.update(index.tokenizer.tokenize(hit.chunk.embed_text))
    return len(terms & found) / len(terms)


class StudyAssistant:
    """Question in, grounded and cited answer out. Thread-compatible for reading, one generation at a time."""

    def __init__(self, index: SearchIndex, generator, k: int = 3, min_confidence: float = 0.05, rag: bool = True):
        self.index = index
        self.generator = generator  # anything with stream(messages) -> Iterator[str]
        self.k = k  # sections given to the model
        self.min_confidence = min_confidence  # below this retrieval confidence: refuse without the LLM
        self.rag = rag  # False: the bare model answers alone (a baseline for the eval)

    @classmethod
    def from_config(cls, path=None, progress: bool = True, rag: bool = True, **overrides) -> "StudyAssistant":
        """Build from a TOML config (None = defaults); overrides by dotted name, e.g. ``**{"llm.device": "cpu"}``."""
        from assistant.config import Config
        from assistant.generation import HFGenerator
        from assistant.indexing import open_search_index
        from assistant.model_files import resolve_model

        config = Config.load(path).with_overrides(**overrides)
        index = open_search_index(config, progress=progress)
        model_path = resolve_model(config.llm.model, config.data_path, progress=progress)
        generator = HFGenerator.load(model_path, config.llm)
        return cls(index, generator, k=config.answer.k, min_confidence=config.answer.min_confidence, rag=rag)

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """The whole answer at once."""
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                return item
        raise RuntimeError("stream ended without an Answer")  # unreachable: stream always ends with one

    def chat(self, history: list[dict], question: str) -> Answer:
        """A follow-up in a conversation: history is [{"role": "user"|"assistant", "content": …}, …]."""
        return self.ask(question, history)

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they are generated, then the final Answer."""
        started = time.perf_counter()
        query = retrieval_query(question, history)
        hits = self.index.search(query, k=self.k) if self.rag else []
        retrieved = time.perf_counter()
        timings = {"retrieve": round(retrieved - started, 4)}

        if self.rag and retrieval_confidence(self.index, query, hits) < self.min_confidence:
            text = _refusal_with_closest(question, hits)
            timings.update(first_token=None, total=round(time.perf_counter() - started, 4))
            yield text
            yield Answer(text, [], hits, refused=True, timings=timings, query=query)
            return

        if self.rag:
            messages = build_messages(question, [(h.chunk.title, h.chunk.text) for h in hits], history)
        else:
            messages = build_bare_messages(question, history)
        pieces = []
        for piece in self.generator.stream(messages):
            if not pieces:
                timings["first_token"] = round(time.perf_counter() - started, 4)
            pieces.append(piece)
            yield piece
        raw = "".join(pieces).strip()
        valid, invalid = parse_citations(raw, len(hits))
        text = drop_invalid_citations(raw, len(hits)) if invalid else raw
        refused = refusal_text(question_language(question)) in text or refusal_text("zh") in text
        citations = [] if refused else [_citation(n, hits[n - 1]) for n in valid]
        timings["total"] = round(time.perf_counter() - started, 4)
        yield Answer(text, citations, hits, refused, timings, dropped_citations=len(invalid), query=query)


def _citation(n: int, hit: Hit) -> dict:
    chunk = hit.chunk
    return {"n": n, "ref": chunk.section_ref, "doc": chunk.doc, "section": chunk.number, "title": chunk.title}


def _refusal_with_closest(question: str, hits: list[Hit]) -> str:
    language = question_language(question)
    closest = "；".join(f"{h.chunk.number}.{h.chunk.title}" for h in hits[:3])
    lead = "最接近的内容：" if language == "zh" else "Closest sections: "
    return f"{refusal_text(language)}\n{lead}{closest}" if closest else refusal_text(language)
