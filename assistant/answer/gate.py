"""The gate before the model: is the question covered by the notes at all?

A question is refused without the model when it names something the corpus never mentions
(``unknown_names``), or when the retrieved sources hold little of it: few of its terms
(``retrieval_confidence``), or, for a Chinese question, little of its terms' weight, each term
weighing by how rare it is in the corpus (``evidence_coverage``: "红烧肉怎么做才能肥而不腻" over the
ML notes finds only "怎么做"). Both come from the corpus and the retrieval, not from a word list,
so the gate works on any notes; the thresholds were calibrated on the collection's dev questions
(eval/collection_dev.jsonl, see ``AnswerConfig``). After the model, ``weak_retrieval`` decides
whether a doubtful reply becomes a refusal or gives way to quotes.
"""

from __future__ import annotations

import functools
import math
import re
from typing import NamedTuple

from index import Hit, SearchIndex

from assistant.answer.settings import AnswerConfig
from assistant.prompts import refusal_text
from assistant.text import name_pattern, question_language


def retrieval_confidence(index: SearchIndex, terms: set[str], hits: list[Hit]) -> float:
    """Share of the query's search terms (``tokenize_query``) that occur in the retrieved sources, in [0, 1].

    "How long should I boil an egg?" over the ML notes -> 0.0; "L1为什么稀疏" -> 1.0.
    """
    if not terms or not hits:
        return 0.0
    found = frozenset().union(*(index.terms(hit.chunk) for hit in hits))
    return len(terms & found) / len(terms)


def evidence_coverage(index: SearchIndex, terms: set[str], hits: list[Hit]) -> float:
    """Share of the query's term weight found in the retrieved sections, in [0, 1], each term
    weighing its inverse section frequency in the corpus (a term no section has weighs most):
    a question whose rare words the sources lack scores low however many common words they share."""
    if not terms or not hits:
        return 0.0
    found = frozenset().union(*(index.section_terms(hit.section_ref) for hit in hits))
    weights = {term: _idf(index, term) for term in terms}
    return sum(weight for term, weight in weights.items() if term in found) / sum(weights.values())


def _idf(index: SearchIndex, term: str) -> float:
    n = len(index.sections)
    return math.log((n + 1) / (index.section_frequency(term) + 0.5))


class Gate(NamedTuple):
    """What is checked before the model is asked."""

    confidence: float  # retrieval_confidence
    unknown: list[str]  # names the question uses that the corpus lacks, once each whatever the case
    passed: bool  # the model is asked: confidence at least min_confidence, a Chinese question's
    # coverage at least min_coverage, and no unknown name
    coverage: float = 1.0  # evidence_coverage


def retrieval_gate(index: SearchIndex, config: AnswerConfig, question: str, terms: set[str],
                   hits: list[Hit]) -> Gate:
    """The check made before the model is asked: a question that does not pass it is refused
    without the model (see ``Gate.passed``)."""
    confidence = retrieval_confidence(index, terms, hits)
    # a follow-up's query carries the previous question too: the question is covered when either
    # its own terms ("那L2正则呢？") or the query's ("那它呢？" with the question before) are
    own = set(index.tokenizer.tokenize_query(question))
    coverage = max(evidence_coverage(index, terms, hits), evidence_coverage(index, own, hits) if own else 0.0)
    unknown: list[str] = []
    if config.refuse_unknown_names:
        for name in unknown_names(index, question):
            if name.lower() not in (seen.lower() for seen in unknown):
                unknown.append(name)
    # English words rarely occur in Chinese notes: an English question's coverage says little.
    covered = question_language(question) == "en" or coverage >= config.min_coverage
    return Gate(confidence, unknown, confidence >= config.min_confidence and covered and not unknown, coverage)


def reaches_model(index: SearchIndex, config: AnswerConfig, question: str, hits: list[Hit]) -> bool:
    """Whether the assistant asks the model about ``question`` (one turn, retrieved ``hits``)
    rather than refusing it beforehand (``retrieval_gate``)."""
    return retrieval_gate(index, config, question, set(index.tokenizer.tokenize_query(question)), hits).passed


def unknown_names(index: SearchIndex, question: str) -> list[str]:
    """Names in the question that the corpus never mentions, as written.

    In a Chinese question, any English word: ``"Focal Loss里的gamma参数起什么作用？" -> ["Focal", "gamma"]``
    over notes without them ("Loss" is in the notes). In an English question, only capitalised words
    and acronyms of 3+ letters that do not start a sentence (ordinary English words are never in
    Chinese notes): ``"How does PCA reduce dimensionality?" -> ["PCA"]``. A name of several words
    or hyphenated parts is unknown when the corpus never writes it together, even if it has every
    part: "Center Loss" over notes with "center" and "Huber Loss" (``_phrases``).
    """
    known = index.vocabulary | index.tokenizer.glossary_words(question) | _math_names(index.text)
    if question_language(question) == "zh":
        names = re.findall(r"[A-Za-z][A-Za-z0-9\-]+", question)
    else:
        names = [m.group(0) for m in re.finditer(r"(?<![.?!]\s)(?<!^)\b[A-Z][A-Za-z0-9\-]{2,}", question.strip())]
    unknown = list(dict.fromkeys(
        name for name in names
        if name.lower() not in known and not _mentions(index.text, name)  # "for" is a stopword, not unknown
        and any(len(p) > 1 and p not in known for p in name.lower().split("-"))
    ))
    seen = {part.lower() for name in unknown for part in re.split(r"[\s\-]+", name)}
    return unknown + [phrase for phrase in _phrases(question)
                      if not _mentions_phrase(index.text, phrase)
                      and not seen & {part.lower() for part in re.split(r"[\s\-]+", phrase)}]


def _phrases(question: str) -> list[str]:
    """Names of several words or parts with a capital letter in them. In a Chinese question any
    run of Latin words is a name ("Center Loss", "Score Distillation Sampling"); in an English one
    only a hyphenated name with capitals on both sides of the hyphen ("Soft-NMS", "SAM-2"), as
    capitalised words side by side are often ordinary ("a Python AI service"), and "multi-GPU" or
    "LLaVA-style" are plain compounds."""
    if question_language(question) == "zh":
        found = [n for n in re.findall(r"[A-Za-z][A-Za-z0-9]*(?:[ \-][A-Za-z0-9]+)+", question) if re.search("[A-Z]", n)]
    else:
        found = re.findall(r"\b[A-Z][A-Za-z0-9]*(?:-[A-Z0-9][A-Za-z0-9]*)+\b", question)
    return list(dict.fromkeys(found))


def _mentions_phrase(text: str, phrase: str) -> bool:
    """Whether ``text`` writes the phrase's parts together, joined by a space, "-", "_" or nothing
    ("center loss", "center-loss", "centerloss" all mention "Center Loss")."""
    parts = [re.escape(part) for part in re.split(r"[\s\-]+", phrase.lower()) if part]
    pattern = r"(?<![a-z0-9_])" + r"[\s\-_]?".join(parts) + r"(?![a-z0-9_])"
    return _cached_pattern(pattern).search(text) is not None


@functools.lru_cache(maxsize=1024)
def _cached_pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _mentions(text: str, name: str) -> bool:
    return name_pattern(name).search(text) is not None


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
