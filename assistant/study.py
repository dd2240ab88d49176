"""``StudyAssistant``: retrieve sections, ask the local LLM, return a cited ``Answer``.

    assistant = StudyAssistant.from_config(None)          # bundled corpus and model
    answer = assistant.ask("L1正则为什么容易产生稀疏解？")
    answer.text, answer.citations, answer.refused

When retrieval finds nothing that shares the question's terms (confidence below
``answer.min_confidence``), the assistant says the corpus does not cover the question and lists
the closest sections, without calling the LLM.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import NamedTuple

from index import Hit, SearchIndex

from assistant.composition import (
    compose,
    cross_language_groundedness,
    drop_repeated_lines,
    drop_source_headers,
    groundedness,
    key_sentences,
    lead_sentences,
    recite_copied_lines,
    split_sentences,
    trim_source,
)
from assistant.followup import retrieval_query
from assistant.prompting import (
    build_bare_messages,
    build_messages,
    drop_invalid_citations,
    parse_citations,
    question_language,
    refusal_text,
)


SOURCE_SCOPES = ("section", "chunk")


@dataclass(frozen=True)
class AnswerConfig:
    """How many sources an answer gets and when to refuse without asking the model."""

    k: int = 3  # sections retrieved and given to the model as numbered sources (see related_share)
    min_confidence: float = 0.05  # retrieval confidence below this: refuse without the LLM (dev: 0 false refusals)
    min_grounding: float = 0.6  # a synthesis with a smaller share of its terms in the sources is doubtful
    refuse_below: float = 0.3  # a doubtful answer (ungrounded, or the model refused) under this
    # retrieval confidence becomes a refusal; above it, the quoted key sentences answer alone
    # (dev-calibrated: the 0.5B model refuses covered questions and answers uncovered ones)
    en_strong_similarity: float = 0.30  # English question: a top section with at least this cosine
    # similarity is strong retrieval for the rule above, whatever the term overlap (dev: every English
    # out-of-corpus question below 0.27; 9 of 16 covered English ones above 0.30; default encoder)
    refuse_unknown_names: bool = True  # a question naming a term that occurs nowhere in the corpus (nor
    # in the query glossary), e.g. "Focal Loss里的gamma…", "How does PCA…", or a machine-learning topic
    # (assistant/data/ml_topics.txt) none of whose names it mentions ("位置编码"), is refused without
    # the LLM (dev: 19 of 23 out-of-corpus questions caught, 1 of 82 covered ones refused)
    source_scope: str = "section"  # what a source's text is drawn from: "section" (the retrieved
    # section's whole text) or "chunk" (only the chunk that matched). The key points of an answer lie
    # all over a section: with the quotes, all the text the prompt shows covers 0.843 of the dev key
    # points from 400-char chunk extracts, 0.896 from 600-char section extracts (benchmarks/target_ceiling.py)
    source_chars: int = 600  # longest source text in the prompt, in characters (0 = whole): it keeps its
    # first sentence and those nearest the question. Chunks at 400 chars (session 8): dev key-point
    # recall 0.601 -> 0.588 against whole chunks, ~165 fewer prompt tokens (median 1,109 -> 943)
    answer_when_confident: bool = True  # under strong retrieval (not ``_weak_retrieval``), where the
    # model's refusal would be replaced by the quotes alone, the model may not open with the refusal
    # sentence: it answers from its sources, and the checks above still judge that answer, so no
    # refusal decision changes. Its refusals there were of covered questions (session 13, dev,
    # held-out and refusal_fresh: 24 of 160 with the adapter, 34 without, against 1 of 6
    # out-of-corpus ones; benchmarks/refusal_probability.py)
    related_share: float = 0.45  # a retrieved section scoring under this share of the top one's is
    # unrelated to the question and is not given to the model (0 = all k are): the adapter, having
    # said what its top source holds, went on copying a weak one (an EDA checklist under a question
    # on class imbalance). Dev, session 15, adapter / base: key-point recall 0.702 / 0.652 -> 0.701 /
    # 0.667, citation precision 0.752 / 0.869 -> 0.830 / 0.871, refusals unchanged, first token
    # 1.97 / 2.18 s -> 1.36 / 1.36 s (median). Dropping only the reply's lines that cite such
    # sources did as well at 0.45 and 0.5 (0.5 is at the edge of a gold source cited on dev, 0.501).
    # Calibrated on ``retrieval.fusion = "score"``; reciprocal-rank scores ("rrf") differ so little
    # (third in both rankings: 0.85 of first in both) that nearly every section stays
    quote_sentences: int = 4  # key sentences quoted from the cited sections after the synthesis (0 = none)
    quote_chars: int = 300  # at most this many characters of quotes (4 / 300: dev key-point recall of the
    # quotes alone 0.472 -> 0.537 over 3 / 240, median +45 chars; 5 / 400 only +2 points more; with
    # sub-headings counted in the choice, session 9: 0.601)

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"answer k should be positive, got {self.k}")
        for name in ("min_confidence", "min_grounding", "refuse_below", "en_strong_similarity", "related_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} should be in [0, 1], got {getattr(self, name)}")
        if self.source_scope not in SOURCE_SCOPES:
            raise ValueError(f"source_scope should be one of {SOURCE_SCOPES}, got {self.source_scope!r}")
        if self.source_chars < 0:
            raise ValueError(f"source_chars should be >= 0, got {self.source_chars}")
        if self.quote_sentences < 0 or self.quote_chars < 0:
            raise ValueError(f"quote limits should be >= 0, got {self.quote_sentences}, {self.quote_chars}")


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
    confidence: float | None = None  # share of query terms found in the sources (refusal gate)
    grounding: float | None = None  # share of the model's terms found in the sources
    draft: str = ""  # the model's own reply before the checks (kept for reports; "" when it did not run)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "citations": self.citations,
            "sources": [hit.to_dict() for hit in self.sources],
            "refused": self.refused,
            "timings": self.timings,
            "dropped_citations": self.dropped_citations,
            "query": self.query,
            "confidence": self.confidence,
            "grounding": self.grounding,
            "draft": self.draft,
        }


def retrieval_confidence(index: SearchIndex, terms: set[str], hits: list[Hit]) -> float:
    """Share of the query's search terms (``tokenize_query``) that occur in the retrieved sources, in [0, 1].

    "How long should I boil an egg?" over the ML notes -> 0.0; "L1为什么稀疏" -> 1.0.
    """
    if not terms or not hits:
        return 0.0
    found = frozenset().union(*(index.terms(hit.chunk) for hit in hits))
    return len(terms & found) / len(terms)


class Gate(NamedTuple):
    """What is checked before the model is asked."""

    confidence: float  # retrieval_confidence
    unknown: list[str]  # names the question uses that the corpus lacks, once each whatever the case
    passed: bool  # the model is asked: confidence at least min_confidence and no unknown name


def retrieval_gate(index: SearchIndex, config: AnswerConfig, question: str, terms: set[str],
                   hits: list[Hit]) -> Gate:
    """The check made before the model is asked: a question that does not pass it is refused
    without the model (its confidence is under ``config.min_confidence`` or a name is listed)."""
    confidence = retrieval_confidence(index, terms, hits)
    unknown: list[str] = []
    if config.refuse_unknown_names:
        for name in unknown_names(index, question) + uncovered_topics(index, question):
            if name.lower() not in (seen.lower() for seen in unknown):
                unknown.append(name)
    return Gate(confidence, unknown, confidence >= config.min_confidence and not unknown)


def reaches_model(index: SearchIndex, config: AnswerConfig, question: str, hits: list[Hit]) -> bool:
    """Whether the assistant asks the model about ``question`` (one turn, retrieved ``hits``)
    rather than refusing it beforehand (``retrieval_gate``)."""
    return retrieval_gate(index, config, question, set(index.tokenizer.tokenize_query(question)), hits).passed


def unknown_names(index: SearchIndex, question: str) -> list[str]:
    """Names in the question that the corpus never mentions, as written.

    In a Chinese question, any English word: ``"Focal Loss里的gamma参数起什么作用？" -> ["Focal", "gamma"]``
    over notes without them ("Loss" is in the notes). In an English question, only capitalised words
    and acronyms of 3+ letters that do not start a sentence (ordinary English words are never in
    Chinese notes): ``"How does PCA reduce dimensionality?" -> ["PCA"]``.
    """
    known = index.vocabulary | index.tokenizer.glossary_words(question) | _math_names(index.text)
    if question_language(question) == "zh":
        names = re.findall(r"[A-Za-z][A-Za-z0-9\-]+", question)
    else:
        names = [m.group(0) for m in re.finditer(r"(?<![.?!]\s)(?<!^)\b[A-Z][A-Za-z0-9\-]{2,}", question.strip())]
    return list(dict.fromkeys(
        name for name in names
        if name.lower() not in known and any(len(p) > 1 and p not in known for p in name.lower().split("-"))
    ))


def uncovered_topics(index: SearchIndex, question: str) -> list[str]:
    """Machine-learning topics the question names (``assistant/data/ml_topics.txt``) that the corpus
    never mentions under any of their names, as written in the question:
    ``"Transformer里的位置编码是怎么做的？" -> ["位置编码"]`` over notes without positional encoding."""
    covered = _covered_topics(index.text)
    found = []
    for number, names in enumerate(_topics()):
        if number not in covered:
            found += [m.group(0) for m in (_name_pattern(name).search(question) for name in names) if m][:1]
    return found


@functools.cache
def _name_pattern(name: str) -> re.Pattern:
    """Case-insensitive; a Latin end of the name must not touch another letter, digit or "_"
    ("map" is not in "map_location", "p值" not in "top-p值"); a Chinese end may touch anything."""
    before = r"(?<![A-Za-z0-9_])" if name[0].isascii() and name[0].isalnum() else ""
    after = r"(?![A-Za-z0-9_])" if name[-1].isascii() and name[-1].isalnum() else ""
    return re.compile(before + re.escape(name) + after, re.IGNORECASE)


def _mentions(text: str, name: str) -> bool:
    return _name_pattern(name).search(text) is not None


@functools.cache
def _topics() -> list[list[str]]:
    lines = resources.files("assistant").joinpath("data/ml_topics.txt").read_text("utf-8").splitlines()
    return [[name.strip().lower() for name in line.split("|") if name.strip()]
            for line in lines if line.strip() and not line.startswith("#")]


@functools.lru_cache(maxsize=8)
def _covered_topics(corpus_text: str) -> frozenset[int]:
    """Topics (line numbers) of which the corpus mentions at least one name."""
    return frozenset(n for n, names in enumerate(_topics()) if any(_mentions(corpus_text, name) for name in names))


@functools.lru_cache(maxsize=8)
def _math_names(corpus_text: str) -> frozenset[str]:
    """Subscripted names in the corpus's formulas, as plain words: ``$\\mathcal{L}_0$`` -> "l0"."""
    pattern = r"\b([a-z])\}?_(?:\{(?:\\math[a-z]+\{)?)?([0-9]+|[a-z](?![a-z]))"  # l_0, \mathcal{l}_{\mathtt{p}}
    return frozenset(a + b for a, b in re.findall(pattern, corpus_text))


class StudyAssistant:
    """Question in, grounded and cited answer out. Thread-compatible for reading, one generation at a time."""

    def __init__(self, index: SearchIndex, generator, config: AnswerConfig | None = None, rag: bool = True):
        self.index = index
        self.generator = generator  # anything with stream(messages) -> Iterator[str]
        self.config = config or AnswerConfig()
        self.rag = rag  # False: the bare model answers alone (a baseline for the eval)

    @classmethod
    def from_config(cls, path=None, progress: bool = True, rag: bool = True, **overrides) -> "StudyAssistant":
        """Build from a TOML config (None = defaults); overrides by dotted name, e.g. ``**{"llm.device": "cpu"}``."""
        from assistant.config import Config

        return cls.from_settings(Config.load(path).with_overrides(**overrides), progress=progress, rag=rag)

    @classmethod
    def from_settings(cls, config, progress: bool = True, rag: bool = True) -> "StudyAssistant":
        """Build from a loaded ``Config``: open the index, resolve and load the model."""
        from assistant.generation import HFGenerator
        from assistant.indexing import open_search_index
        from assistant.model_files import resolve_model

        index = open_search_index(config, progress=progress)
        model_path = resolve_model(config.llm.model, config.data_path, progress=progress)
        generator = HFGenerator.load(model_path, config.llm)
        return cls(index, generator, config.answer, rag=rag)

    def ask(self, question: str, history: list[dict] | None = None, **options) -> Answer:
        """The whole answer at once (``options`` as for ``stream``)."""
        for item in self.stream(question, history, **options):
            if isinstance(item, Answer):
                return item
        raise RuntimeError("stream ended without an Answer")  # unreachable: stream always ends with one

    def chat(self, history: list[dict], question: str) -> Answer:
        """A follow-up in a conversation: history is [{"role": "user"|"assistant", "content": …}, …]."""
        return self.ask(question, history)

    def stream(
        self, question: str, history: list[dict] | None = None, *, k: int | None = None,
        temperature: float | None = None, adapter: bool | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they are generated, then the final Answer.

        The pieces are the model's synthesis, then the quoted key sentences. The final Answer's
        text is authoritative: when the synthesis turns out ungrounded it is a refusal instead.
        ``k`` (sections retrieved; those far below the top one, ``related_share``, are not given to
        the model) and ``temperature`` override the configured ones;
        ``adapter=False`` answers without the LoRA adapter (``True``: with it, when one is loaded).
        """
        if k is not None and k < 1:
            raise ValueError(f"k should be positive, got {k}")
        started = time.perf_counter()
        query = retrieval_query(question, history)
        hits = self.index.search(query, k=k or self.config.k) if self.rag else []
        retrieved = time.perf_counter()
        timings = {"retrieve": round(retrieved - started, 4)}

        query_terms = set(self.index.tokenizer.tokenize_query(query)) if self.rag else set()
        confidence, unknown, passed = (retrieval_gate(self.index, self.config, question, query_terms, hits)
                                       if self.rag else (None, [], True))
        if not passed:
            text = _refusal_with_closest(question, hits, unknown)
            timings.update(first_token=None, total=round(time.perf_counter() - started, 4))
            yield text
            yield Answer(text, [], hits, refused=True, timings=timings, query=query, confidence=confidence)
            return

        closest = hits  # a refusal lists the closest sections, related or not
        if self.rag:  # the sections retrieval scored far below the top one are left out
            hits = related_hits(hits, self.config.related_share)
            sources = prompt_sources(self.index, query, hits, self.config.source_chars, self.config.source_scope)
            messages = build_messages(question, sources, history)
        else:
            messages = build_bare_messages(question, history)
        pieces = []
        decoding = {name: value for name, value in (("temperature", temperature), ("adapter", adapter))
                    if value is not None}
        language = question_language(question)
        weak = self.rag and self._weak_retrieval(confidence, hits, language)
        if self.rag and self.config.answer_when_confident and not weak:
            decoding["forbid_openings"] = tuple(dict.fromkeys((refusal_text(language), refusal_text("zh"))))
        for piece in self.generator.stream(messages, **decoding):
            if not pieces:
                timings["first_token"] = round(time.perf_counter() - started, 4)
            pieces.append(piece)
            yield piece
        raw = "".join(pieces).strip()
        said = drop_source_headers(raw)
        valid, invalid = parse_citations(said, len(hits))
        synthesis = drop_repeated_lines(drop_invalid_citations(said, len(hits)) if invalid else said)
        if self.rag:  # a line copied from one source cites that source
            synthesis = recite_copied_lines(synthesis, [text for _, text in sources])
            valid = parse_citations(synthesis, len(hits))[0]
        refused = refusal_text(language) in synthesis or refusal_text("zh") in synthesis
        grounding = None
        if self.rag:
            # what the model read (section extracts) and the chunks retrieval matched
            source_terms = frozenset(self.index.tokenizer.tokenize("\n".join(text for _, text in sources))).union(
                *(self.index.terms(h.chunk) for h in hits))
            if not synthesis:  # nothing said (e.g. only the sources' headers echoed)
                grounding = 0.0
            elif question_language(synthesis) == "en":  # over Chinese notes: only corpus terms can be checked
                tokenizer = self.index.tokenizer
                grounding = cross_language_groundedness(synthesis, source_terms, self.index.vocabulary,
                                                        tokenizer.tokenize, tokenizer.glossary_terms)
            else:
                grounding = groundedness(synthesis, source_terms, self.index.tokenizer.tokenize)
            doubtful = refused or grounding < self.config.min_grounding  # an empty synthesis is doubtful
            refused = doubtful and weak
            if doubtful and not refused:  # confident retrieval, unreliable synthesis: quotes answer
                synthesis, valid = "", []
        extra = {"dropped_citations": len(invalid), "query": query, "confidence": confidence, "grounding": grounding,
                 "draft": raw}
        if refused:
            text = _refusal_with_closest(question, closest) if self.rag else synthesis
            timings["total"] = round(time.perf_counter() - started, 4)
            yield Answer(text, [], hits, True, timings, **extra)
            return
        # quotes from the top source, then the first other one cited: the key sentences of the
        # retriever's best section stay under a synthesis drawn from another one
        top_first = list(dict.fromkeys([1, *valid]))
        quotes = quoted_sentences(self.index, self.config, query_terms, hits, top_first, synthesis) if self.rag else []
        if self.rag and not synthesis and not quotes:  # no sentence shares a word with the question
            quotes = self._lead_quotes(hits)
        text = compose(synthesis, quotes, language)
        if not text.strip():  # nothing to show: say so rather than print an empty answer
            text = _refusal_with_closest(question, closest) if self.rag else refusal_text(language)
            timings["total"] = round(time.perf_counter() - started, 4)
            yield Answer(text, [], hits, True, timings, **extra)
            return
        if synthesis == raw and len(text) > len(synthesis):  # else the final Answer revises the draft
            yield text[len(synthesis):]
        cited = list(dict.fromkeys(valid + [n for n, _ in quotes]))
        timings["total"] = round(time.perf_counter() - started, 4)
        citations = [_citation(n, hits[n - 1]) for n in cited]
        yield Answer(text, citations, hits, False, timings, **extra)

    def _weak_retrieval(self, confidence: float, hits: list[Hit], language: str) -> bool:
        """Too weak to stand on quotes alone. An English question's words rarely occur in Chinese
        notes, so its term overlap is low even when the right section comes first: for it, a top
        section this similar to the question (``en_strong_similarity``) also counts as strong."""
        if confidence >= self.config.refuse_below:
            return False
        top = hits[0].dense_score if hits else None
        return not (language == "en" and top is not None and top >= self.config.en_strong_similarity)

    def _lead_quotes(self, hits: list[Hit]) -> list[tuple[int, str]]:
        """The top section's opening sentences as [1] quotes."""
        if not self.config.quote_sentences or not hits:
            return []
        text = section_text(self.index, hits[0])
        return [(1, sentence) for sentence in lead_sentences(text, self.config.quote_sentences, self.config.quote_chars)]


def related_hits(hits: list[Hit], share: float) -> list[Hit]:
    """The top hit and those scoring at least ``share`` of its score, in order: scores
    [1.5, 0.9, 0.6] with share 0.45 keep the first two."""
    return hits[:1] + [hit for hit in hits[1:] if hit.score >= share * hits[0].score]


def quoted_sentences(index: SearchIndex, config: AnswerConfig, terms: set[str], hits: list[Hit],
                     cited: list[int], synthesis: str = "") -> list[tuple[int, str]]:
    """The key sentences an answer quotes under its synthesis: from the first two cited sections
    (or the top one), within ``config``'s limits, none the synthesis already says word for word
    (the next key sentences instead): [(source number, sentence)]."""
    if not config.quote_sentences or not hits:
        return []
    quotes: list[tuple[int, str]] = []
    budget = config.quote_chars
    for n in (cited or [1])[:2]:
        text = section_text(index, hits[n - 1])
        room = config.quote_sentences - len(quotes)
        for sentence in key_sentences(terms, text, index.tokenizer.tokenize, room, budget, synthesis):
            quotes.append((n, sentence))
            budget -= len(sentence)
    return quotes


def section_text(index: SearchIndex, hit: Hit) -> str:
    """The whole section a hit points to (its chunk's text if the section is unknown)."""
    section = index.sections.get(hit.section_ref)
    return section.text if section else hit.chunk.text


def prompt_sources(index: SearchIndex, query: str, hits: list[Hit], max_chars: int = 0,
                   scope: str = "section") -> list[tuple[str, str]]:
    """(title, text) of each hit as the model reads it: its whole section (``scope`` "section") or
    its chunk ("chunk"), trimmed to ``max_chars`` around the query's search terms (``trim_source``;
    a section's sentences in the matched chunk first among equals; a chunk under the sub-heading it
    starts in; 0 = whole)."""
    if scope not in SOURCE_SCOPES:
        raise ValueError(f"scope should be one of {SOURCE_SCOPES}, got {scope!r}")
    terms = set(index.tokenizer.tokenize_query(query)) if max_chars else set()
    sources = []
    for h in hits:
        if scope == "section":
            text, heading = section_text(index, h), ""
            matched = frozenset(split_sentences(h.chunk.text)) if max_chars else frozenset()
        else:
            text, heading = h.chunk.text, f"#### {h.chunk.heading}" if h.chunk.heading else ""
            matched = frozenset()
        sources.append((h.chunk.title, trim_source(text, terms, index.tokenizer.tokenize, max_chars, heading, matched)))
    return sources


def _citation(n: int, hit: Hit) -> dict:
    chunk = hit.chunk
    return {"n": n, "ref": chunk.section_ref, "doc": chunk.doc, "section": chunk.number, "title": chunk.title}


def _refusal_with_closest(question: str, hits: list[Hit], unknown: list[str] = ()) -> str:
    language = question_language(question)
    text = refusal_text(language)
    if unknown:
        text += ("\n资料中没有出现：" if language == "zh" else "\nNot in the notes: ") + "、".join(unknown)
    closest = "；".join(f"{h.chunk.number}.{h.chunk.title}" for h in hits[:3])
    lead = "最接近的内容：" if language == "zh" else "Closest sections: "
    return f"{text}\n{lead}{closest}" if closest else text
