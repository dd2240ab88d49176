"""The gate before the model: is the question covered by the notes at all?

A question is refused without the model when retrieval found little of its terms in the sources
(``retrieval_confidence``) or when it names something the notes never mention (``unknown_names``,
``uncovered_topics``). After the model, ``weak_retrieval`` decides whether a doubtful reply
becomes a refusal or gives way to quotes.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import NamedTuple

from index import Hit, SearchIndex

from assistant.answer.settings import AnswerConfig
from assistant.prompts import refusal_text
from assistant.text import question_language


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


def weak_retrieval(config: AnswerConfig, confidence: float, hits: list[Hit], language: str) -> bool:
    """Too weak for the quotes to stand alone. An English question's words rarely occur in Chinese
    notes, so its term overlap is low even when the right section comes first: for it, a top
    section this similar to the question (``en_strong_similarity``) also counts as strong."""
    if confidence >= config.refuse_below:
        return False
    top = hits[0].dense_score if hits else None
    return not (language == "en" and top is not None and top >= config.en_strong_similarity)


def refusal_with_closest(question: str, hits: list[Hit], unknown: list[str] = ()) -> str:
    language = question_language(question)
    text = refusal_text(language)
    if unknown:
        text += ("\n资料中没有出现：" if language == "zh" else "\nNot in the notes: ") + "、".join(unknown)
    closest = "；".join(f"{h.chunk.number}.{h.chunk.title}" for h in hits[:3])
    lead = "最接近的内容：" if language == "zh" else "Closest sections: "
    return f"{text}\n{lead}{closest}" if closest else text
