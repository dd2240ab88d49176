"""The answer pipeline: question in, grounded and cited ``Answer`` out, in small stages.

    pipeline = AnswerPipeline(index, model)            # any SearchIndex and ChatModel
    answer = pipeline.ask("L1正则为什么容易产生稀疏解？")
    answer.text, answer.citations, answer.refused

retrieve -> gate (refuse without the model when the notes do not cover the question) -> sources
-> quotes (shown at once under strong retrieval) -> prompt (history trimmed to fit) -> model ->
citations -> verification -> quotes -> Answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from numbers import Real
from typing import NamedTuple

from corpus.scopes import normalise_scope
from index import Hit, SearchIndex

from assistant.answer.checked_stream import CheckedStream
from assistant.answer.contradictions import ContradictionCheck
from assistant.answer.followup import retrieval_query
from assistant.answer.gate import refusal_with_closest, retrieval_gate, weak_retrieval
from assistant.answer.opposite_sources import OppositeSources
from assistant.answer.prompt import build_bare_messages, build_messages, fit_history
from assistant.answer.quotes import SYNTHESIS_HEADING, compose, lead_quotes, quoted_sentences
from assistant.answer.rerank import rerank, reranks
from assistant.answer.settings import AnswerConfig
from assistant.answer.sources import prompt_sources, related_hits
from assistant.answer.verification import (
    cross_language_groundedness,
    drop_repeated_lines,
    drop_source_headers,
    drop_unfinished_line,
    groundedness,
    recite_copied_lines,
    repeats_quotes,
)
from assistant.citations import normalise_citations, parse_citations
from assistant.llm.base import ChatModel, GenerationOptions
from assistant.prompts import refusal_text
from assistant.text import letters, question_language

log = logging.getLogger(__name__)
ROLES = ("user", "assistant")


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
    withheld: list[dict] = field(default_factory=list)  # reply lines cut for contradicting a source
    unsupported: list[str] = field(default_factory=list)  # reply lines cut (from the clause named) for
    # saying in the model's own words what no source clause says (``answer.synthesis = "copies"``)

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
            "withheld": self.withheld,
            "unsupported": self.unsupported,
        }


class Reply(NamedTuple):
    """The model's reply after the checks."""

    synthesis: str  # what is shown of it ("" when the quotes answer alone)
    cited: list[int]  # valid source numbers it cites
    dropped: int  # citation numbers that named no given source
    grounding: float | None  # share of its terms found in the sources (None without RAG)
    refused: bool  # the answer is a refusal
    withheld: tuple[dict, ...] = ()  # lines cut for contradicting a source: {"line", "kind", "said", "noted", "source"}
    unsupported: tuple[str, ...] = ()  # lines cut for a clause in the model's own words


class AnswerPipeline:
    """Question in, grounded and cited answer out. One generation at a time (the model's queue)."""

    def __init__(self, index: SearchIndex, model: ChatModel, config: AnswerConfig | None = None, rag: bool = True):
        self.index = index
        self.model = model
        self.config = config or AnswerConfig()
        self.rag = rag  # False: the bare model answers alone (a baseline for the eval)

    def ask(self, question: str, history: list[dict] | None = None, **options) -> Answer:
        """The whole answer at once (``options`` as for ``stream``)."""
        for item in self.stream(question, history, **options):
            if isinstance(item, Answer):
                return item
        raise RuntimeError("stream ended without an Answer")  # unreachable: stream always ends with one

    def chat(self, history: list[dict], question: str) -> Answer:
        """A follow-up in a conversation: history is [{"role": "user"|"assistant", "content": …}, …]."""
        return self.ask(question, history)

    def stream(self, question: str, history: list[dict] | None = None, *, k: int | None = None,
               temperature: float | None = None, adapter: bool | None = None,
               scope: str | list[str] | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they are generated, then the final Answer.

        The pieces are the quoted key sentences of the notes, then the model's synthesis under
        them (``notes_first``, under strong retrieval), or the synthesis then the quotes (under weak
        retrieval, where the model may refuse). The final Answer's
        text is authoritative: when the synthesis turns out ungrounded it is a refusal instead.
        ``k`` (sections retrieved; those far below the top one, ``related_share``, are not given to
        the model) and ``temperature`` override the configured ones; ``adapter=False`` answers
        without the LoRA adapter (``True``: with it), where the model can switch it. ``scope``
        (folder or file names, e.g. ``["深度学习基础"]``) answers from those chapters only.
        Wrong arguments raise TypeError or ValueError naming the argument; a scope that names no
        chapter raises UnknownScopeError (a ValueError) listing the chapters.
        """
        question = self._check_question(question)
        history = check_history(history)
        scope = normalise_scope(scope)
        self.index.scope_rows(scope)  # an unknown chapter is an error before any work
        k = _check_number("k", k, int, minimum=1)
        temperature = _check_number("temperature", temperature, Real, minimum=0)
        if adapter is not None and not isinstance(adapter, bool):
            raise TypeError(f"adapter should be True, False or None, got {adapter!r}")
        if not self.rag:
            yield from self._bare(question, history, temperature, adapter)
            return
        started = time.perf_counter()
        query = retrieval_query(question, history, self.index.config.max_query_chars)
        k = k or self.config.k
        reranking = reranks(self.index.config, self.model)
        found = self.index.search(query, k=max(k, self.index.config.rerank_candidates) if reranking else k,
                                  scope=scope)
        hits = found[:k]
        timings = {"retrieve": round(time.perf_counter() - started, 4)}
        terms = set(self.index.tokenizer.tokenize_query(query))
        gate = retrieval_gate(self.index, self.config, question, terms, hits)
        confidence = gate.confidence
        if not gate.passed:
            text = refusal_with_closest(question, hits, gate.unknown)
            timings.update(first_token=None, total=round(time.perf_counter() - started, 4))
            yield text
            yield Answer(text, [], hits, refused=True, timings=timings, query=query, confidence=confidence)
            return

        closest = hits  # a refusal lists the closest sections, related or not
        if reranking:  # after the gate, which was calibrated on the search's own order
            reading = time.perf_counter()
            hits = rerank(self.index, self.model, question, found)[:k]
            timings["rerank"] = round(time.perf_counter() - reading, 4)
        hits = related_hits(hits, self.config.related_share)
        sources = prompt_sources(self.index, query, hits, self.config.source_chars, self.config.source_scope)
        messages = self._fit(lambda turns: build_messages(question, sources, turns), history)
        language = question_language(question)
        weak = weak_retrieval(self.config, confidence, hits, language)
        options = self._options(temperature, adapter, bar_refusal=self.config.answer_when_confident and not weak,
                                language=language)
        titles = [title for title, _ in sources]
        check = ContradictionCheck([text for _, text in sources], question,
                                   copies_only=self.config.synthesis == "copies",
                                   opposite=OppositeSources(titles, question), titles=titles)
        # strong retrieval: the quotes will be shown whatever the model says, so they are shown now
        early = quoted_sentences(self.index, self.config, terms, hits, [1], "", question) \
            if self.config.notes_first and not weak else []
        shown_early = compose("", early, language) if early else ""
        if shown_early:
            timings["first_token"] = round(time.perf_counter() - started, 4)
            yield shown_early
        quoted = [letters(sentence) for _, sentence in early]
        heading = f"\n\n{SYNTHESIS_HEADING['zh' if language == 'zh' else 'en']}\n" if early else ""
        raw, shown = yield from self._generate(messages, options, timings, started, check, heading,
                                               repeats=(lambda line: repeats_quotes(line, quoted)) if quoted else None)
        reply = self._check(raw, sources, hits, language, weak, check, quoted)
        extra = {"dropped_citations": reply.dropped, "query": query, "confidence": confidence,
                 "grounding": reply.grounding, "draft": raw, "withheld": list(reply.withheld),
                 "unsupported": list(reply.unsupported)}
        quotes, after = [], []
        if not reply.refused:
            # the quotes answer alone: they get the room the synthesis would have taken
            limits = self.config if reply.synthesis or not self.config.quote_sentences else replace(
                self.config, quote_sentences=self.config.alone_quote_sentences, quote_chars=self.config.alone_quote_chars)
            if early:  # the quotes shown, and more of the top section when they answer alone
                room = replace(limits, quote_sentences=limits.quote_sentences - len(early),
                               quote_chars=limits.quote_chars - sum(len(sentence) for _, sentence in early))
                quotes = early + quoted_sentences(self.index, room, terms, hits, [1], shown_early, question)
                other = [n for n in reply.cited if n != 1][:1]  # another source the synthesis rests on:
                if reply.synthesis and other:  # its key sentences under it, in half the quotes' room
                    half = replace(self.config, quote_sentences=max(1, self.config.quote_sentences // 2),
                                   quote_chars=self.config.quote_chars // 2)
                    said = reply.synthesis + "\n" + shown_early
                    after = quoted_sentences(self.index, half, terms, hits, other, said, question)
            else:
                # quotes from the top source, then the first other one cited: the key sentences of the
                # retriever's best section stay under a synthesis drawn from another one
                top_first = list(dict.fromkeys([1, *reply.cited]))
                quotes = quoted_sentences(self.index, limits, terms, hits, top_first, reply.synthesis, question)
            if not reply.synthesis and not quotes:  # no sentence shares a word with the question
                quotes = lead_quotes(self.index, limits, hits)
        text = compose(reply.synthesis, quotes, language, notes_first=bool(early), after=after) \
            if not reply.refused else ""
        if not text.strip():  # a refusal, or nothing to show: say so rather than print an empty answer
            timings["total"] = round(time.perf_counter() - started, 4)
            yield Answer(refusal_with_closest(question, closest), [], hits, True, timings, **extra)
            return
        timings.setdefault("first_token", round(time.perf_counter() - started, 4))  # nothing passed: quotes come now
        streamed = shown_early + (heading + shown if shown else "")
        if text.startswith(streamed) and len(text) > len(streamed) and (
                early or shown.strip() == reply.synthesis):
            yield text[len(streamed):]  # else the final Answer revises what was streamed
        cited = list(dict.fromkeys(reply.cited + [n for n, _ in quotes + after]))
        timings["total"] = round(time.perf_counter() - started, 4)
        yield Answer(text, [_citation(n, hits[n - 1]) for n in cited], hits, False, timings, **extra)

    def _check_question(self, question) -> str:
        """The question as a non-empty string, cut to ``max_question_chars`` (with a warning)."""
        if isinstance(question, bytes):
            raise TypeError("question should be a str, got bytes; decode it first (e.g. question.decode('utf-8'))")
        if not isinstance(question, str):
            raise TypeError(f"question should be a str, got {type(question).__name__}")
        question = question.strip()
        if not question:
            raise ValueError("question is empty")
        limit = self.config.max_question_chars
        if len(question) > limit:
            log.warning("The question has %d characters; only the first %d are used.", len(question), limit)
            question = question[:limit]
        return question

    def _fit(self, build, history: list[dict]) -> list[dict]:
        """The prompt ``build`` makes with the history that leaves room for the reply."""
        budget = self.model.context_tokens - self.model.max_new_tokens
        return fit_history(build, history, self.model.count_tokens, budget)

    def _options(self, temperature, adapter, bar_refusal: bool, language: str) -> GenerationOptions:
        """Per-call options, each only where the model declares it can honour it."""
        can = self.model.capabilities
        openings = ()
        if bar_refusal and can.opening_bans:
            openings = tuple(dict.fromkeys((refusal_text(language), refusal_text("zh"))))
        return GenerationOptions(temperature=temperature, adapter=adapter if can.adapter_switching else None,
                                 forbid_openings=openings)

    def _generate(self, messages: list[dict], options: GenerationOptions, timings: dict, started: float,
                  check: ContradictionCheck | None = None, heading: str = "", repeats=None):
        """Stream the model's reply on (a generator: ``raw, shown = yield from …``): with a ``check``,
        clause by clause as each passes it (``CheckedStream``; ``repeats``: lines that only repeat
        what is shown above wait, and go if they end so), else piece by piece; ``heading`` goes before
        the first text shown. Returns the stripped reply and what was shown of it (as shown, without
        the heading). ``timings``: ``first_token`` when the first text was shown (unless something
        was shown before), ``model_first_token`` when the model gave its first piece."""
        pieces, shown, failure = [], [], None
        passing = CheckedStream(check, repeats) if check else None
        try:
            for piece in self.model.stream(messages, options):
                if not pieces:
                    timings["model_first_token"] = round(time.perf_counter() - started, 4)
                pieces.append(piece)
                text = passing.feed(piece) if passing else piece
                if text:
                    if not shown:
                        timings.setdefault("first_token", round(time.perf_counter() - started, 4))
                        text = heading + text.lstrip("\n") if heading else text
                    shown.append(text)
                    yield text
        except Exception as err:  # a model (server) that fails mid-reply: what came and passed is still shown
            failure = err
        rest = passing.close() if passing else ""
        if rest:
            timings.setdefault("first_token", round(time.perf_counter() - started, 4))
            if not shown and heading:
                rest = heading + rest.lstrip("\n")
            shown.append(rest)
            yield rest
        if failure:
            raise failure
        shown = "".join(shown)
        return "".join(pieces).strip(), shown[len(heading):] if heading and shown.startswith(heading) else shown

    def _check(self, raw: str, sources: list[tuple[str, str]], hits: list[Hit], language: str, weak: bool,
               check: ContradictionCheck, quoted: list[str] = ()) -> Reply:
        """Citations, repeats, contradictions and grounding of the model's reply. A line is cut at
        a clause that contradicts its source (``ContradictionCheck``), and with ``copies_only`` at
        one in the model's own words. A doubtful reply (a refusal, or too little of it in the
        sources, counted before the cut of its own words) is a refusal under weak retrieval; under
        strong retrieval the quotes answer alone."""
        said = drop_source_headers(raw)
        dropped = len(parse_citations(said, len(hits))[1])
        synthesis = drop_unfinished_line(drop_repeated_lines(normalise_citations(said, len(hits))))
        synthesis = recite_copied_lines(synthesis, [text for _, text in sources])  # a copied line cites its holder
        drafted = synthesis
        synthesis, conflicts = check.reply(synthesis)
        if quoted:  # the quotes shown above it: a line that only repeats one goes
            synthesis = "\n".join(line for line in synthesis.split("\n") if not repeats_quotes(line, quoted)).strip()
        synthesis = drop_unfinished_line(synthesis)  # a line left introducing what was cut ("例如：")
        withheld = tuple(conflict.to_dict() for conflict in conflicts if conflict.contradicts)
        unsupported = tuple(conflict.line for conflict in conflicts if not conflict.contradicts)
        cited = parse_citations(synthesis, len(hits))[0]
        refused = refusal_text(language) in drafted or refusal_text("zh") in drafted
        # whether the model drew on the sources: its reply before its own words are cut
        grounding = self._grounding(drafted if check.copies_only else synthesis, sources, hits)
        doubtful = refused or grounding < self.config.min_grounding  # an empty synthesis is doubtful
        if doubtful and not weak:  # confident retrieval, unreliable synthesis: quotes answer
            return Reply("", [], dropped, grounding, False, withheld, unsupported)
        return Reply(synthesis, cited, dropped, grounding, doubtful, withheld, unsupported)

    def _grounding(self, synthesis: str, sources: list[tuple[str, str]], hits: list[Hit]) -> float:
        """Share of the synthesis' terms in what the model read (section extracts) and the chunks
        retrieval matched; 0.0 for an empty synthesis (e.g. only the sources' headers echoed)."""
        if not synthesis:
            return 0.0
        tokenizer = self.index.tokenizer
        source_terms = frozenset(tokenizer.tokenize("\n".join(text for _, text in sources))).union(
            *(self.index.terms(h.chunk) for h in hits))
        if question_language(synthesis) == "en":  # over Chinese notes: only corpus terms can be checked
            return cross_language_groundedness(synthesis, source_terms, self.index.vocabulary, tokenizer.tokenize,
                                               tokenizer.glossary_terms)
        return groundedness(synthesis, source_terms, tokenizer.tokenize)

    def _bare(self, question: str, history: list[dict], temperature, adapter) -> Iterator[str | Answer]:
        """The model alone, without sources (the ``--no-rag`` baseline): its citations (to nothing)
        and repeated lines dropped, nothing else checked."""
        started = time.perf_counter()
        timings = {"retrieve": 0.0}
        messages = self._fit(lambda turns: build_bare_messages(question, turns), history)
        options = self._options(temperature, adapter, bar_refusal=False, language="zh")
        raw, _ = yield from self._generate(messages, options, timings, started)
        said = drop_source_headers(raw)
        synthesis = drop_repeated_lines(normalise_citations(said, 0))
        language = question_language(question)
        refused = not synthesis or refusal_text(language) in synthesis or refusal_text("zh") in synthesis
        timings["total"] = round(time.perf_counter() - started, 4)
        yield Answer(synthesis or refusal_text(language), [], [], refused, timings,
                     dropped_citations=len(parse_citations(said, 0)[1]), query=retrieval_query(question, history),
                     draft=raw)


def check_history(history) -> list[dict]:
    """``history`` as a list of {"role": "user"|"assistant", "content": str} turns (None: no turns);
    anything else raises TypeError or ValueError saying which turn is wrong."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, dict)) or not hasattr(history, "__iter__"):
        raise TypeError(f"history should be a list of {{'role', 'content'}} turns, got {type(history).__name__}")
    turns = []
    for n, turn in enumerate(history):
        if not isinstance(turn, dict):
            raise TypeError(f"history[{n}] should be a dict with 'role' and 'content', got {type(turn).__name__}")
        if turn.get("role") not in ROLES:
            raise ValueError(f"history[{n}]['role'] should be 'user' or 'assistant', got {turn.get('role')!r}")
        if not isinstance(turn.get("content"), str):
            raise TypeError(f"history[{n}]['content'] should be a str, got {type(turn.get('content')).__name__}")
        turns.append({"role": turn["role"], "content": turn["content"]})
    return turns


def _check_number(name: str, value, kind, minimum):
    """``value`` when it is None or a ``kind`` (never a bool) of at least ``minimum``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if kind is int else "a number"
        raise TypeError(f"{name} should be {expected}, got {value!r}")
    if not value >= minimum:
        raise ValueError(f"{name} should be >= {minimum}, got {value}")
    return value


def _citation(n: int, hit: Hit) -> dict:
    chunk = hit.chunk
    return {"n": n, "ref": chunk.section_ref, "doc": chunk.doc, "section": chunk.number, "title": chunk.title}
