"""Supervised examples for the LoRA adapter, built from the corpus in the exact inference format.

Each example pairs a training question (``questions.py``) with the top-k sources the retriever
really returns for it, in the prompt the answer pipeline builds, and a target answer: the points
of the section's source *as the prompt shows it* (so the adapter learns to say what it reads, not
what it remembers), related to the question, most related first, that the answer's quotes will
not show, each cited with the number the section got among the sources. Refusal examples pair
uncovered questions with whatever retrieval returns and the fixed refusal sentence, but only
those the pipeline would ask the model about (``reaches_model``): teaching it to refuse the
others taught it to refuse covered questions too.

    examples = build_sft_examples(index, k=3)
    examples[0].messages   # system + user prompt with sources [1]..[3], as the pipeline builds it
    examples[0].target     # "L1正则…产生稀疏解。 [1]\nL2…不会为0。 [1]"
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass, replace

from index import SearchIndex

from assistant.answer.followup import retrieval_query
from assistant.answer.gate import reaches_model
from assistant.answer.prompt import build_messages
from assistant.answer.quotes import key_sentences, quoted_sentences, sentence_overlap
from assistant.answer.settings import AnswerConfig
from assistant.answer.sources import prompt_sources, related_hits
from assistant.drill.grading import is_point
from assistant.evaluation import gold_matches
from assistant.prompts import refusal_text
from assistant.text import headed_sentences, question_language
from assistant.training.questions import refusal_questions, training_questions

_LIST_ITEM = re.compile(r"^([-*•]|\d+[.、)]|[（(]\d+[)）])")


@dataclass(frozen=True)
class SFTExample:
    """One supervised example: chat messages (system + user with sources) and the target reply."""

    question: str
    messages: list[dict]
    target: str
    kind: str  # "section" | … | "pair" | "followup" | "refusal" | "reference" (TrainingQuestion's kinds and two more)
    section_ref: str | None  # the section the answer comes from (a pair's first); None for refusals


TARGET_POINTS = 6  # most points of its source a target answer gives (train-lora --target-points)
TARGET_CHARS = 400  # longest target answer, in characters (train-lora --target-chars)
TARGET_FILL = True  # room left after the points related to the question is filled with the source's other points
SOURCE_SWAP = 0.0  # share of the one-section examples whose top section is shown second or third
# instead (the target cites its new number); 0 = off
TRAINING_SOURCES = {"source_scope": "chunk", "source_chars": 400, "related_share": 0.0}  # how train-lora
# shows the sources in its prompts, whatever the assistant is served with (``training_answer``): the
# 400-character chunk extracts of all k sections. Adapters trained on the served section extracts
# refused more covered questions and answered no better (docs/lora.md)


def training_answer(answer: AnswerConfig, **chosen) -> AnswerConfig:
    """``answer`` with the sources shown as ``TRAINING_SOURCES`` says, except what ``chosen`` sets
    (None: not chosen): ``training_answer(config.answer, source_chars=600)``."""
    return replace(answer, **{**TRAINING_SOURCES, **{k: v for k, v in chosen.items() if v is not None}})


def prompt_settings(answer: AnswerConfig) -> dict:
    """The keyword arguments that make ``build_sft_examples`` and ``reference_examples`` build the
    prompts an assistant with these ``AnswerConfig`` settings answers: k, source_chars, scope and
    related_share (the sections scored far below the top one are not shown)."""
    return {"k": answer.k, "source_chars": answer.source_chars, "scope": answer.source_scope,
            "related_share": answer.related_share}


def retrieve_sections(index: SearchIndex, query: str, wanted: list[str], k: int, source_chars: int,
                      scope: str, related_share: float = 0.0) -> tuple[list, list[tuple[str, str]], list[int]] | None:
    """(hits given to the model, sources as the prompt shows them, 1-based positions of the
    ``wanted`` sections among the hits; none wanted: []) for a query, as the assistant retrieves
    (the top k, less those under ``related_share`` of the top score); None when a wanted section
    is not among them."""
    hits = related_hits(index.search(query, k=k), related_share)
    refs = [hit.section_ref for hit in hits]
    if any(ref not in refs for ref in wanted):
        return None
    return hits, prompt_sources(index, query, hits, source_chars, scope), [refs.index(ref) + 1 for ref in wanted]


def first_turn(index: SearchIndex, ref: str, k: int, source_chars: int, cited: bool,
               max_points: int = TARGET_POINTS, max_chars: int = TARGET_CHARS, scope: str = "section",
               related_share: float = 0.0) -> list[dict]:
    """A conversation's first turn about section ``ref``: its own question and the answer built
    like the targets (with its [n] citations, as the chat's history keeps them, or without, as
    a user's pasted notes would be); [] when retrieval misses the section."""
    question = index.sections[ref].title.strip().rstrip("?？ ") + "？"
    found = retrieve_sections(index, question, [ref], k, source_chars, scope, related_share)
    if not found:
        return []
    answer = key_point_target(index, question, *found, max_points, max_chars)
    if not cited:
        answer = re.sub(r" ?\[\d+\]", "", answer)
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}] if answer else []


def build_sft_examples(index: SearchIndex, k: int = 3, max_points: int = TARGET_POINTS,
                       max_chars: int = TARGET_CHARS, seed: int = 0, source_chars: int = 0, gate: AnswerConfig | None = None,
                       scope: str = "section", swap: float | None = None, related_share: float = 0.0,
                       sections: list[str] | None = None) -> list[SFTExample]:
    """Covered examples whose section retrieval finds in the top k, plus refusal examples, shuffled.
    ``sections``: the questions are about these sections only, a lighter set each
    (``training_questions``); None: every section, the full set.
    ``swap``: the share of one-section examples whose section moves from [1] to a random lower
    place (None: ``SOURCE_SWAP``).
    Pass ``prompt_settings(AnswerConfig)`` for the prompts an assistant with those settings answers
    (source_chars 0: whole), or of ``training_answer(AnswerConfig)`` for the shipped recipe's, as
    train-lora does; and the assistant's ``AnswerConfig`` as ``gate`` (default
    settings when None): refusal questions it refuses without the model are left out (the gate
    sees all k sections, the prompt only those ``related_share`` keeps, as in the assistant)."""
    gate = gate or AnswerConfig()
    swapper = random.Random(seed + 1)
    examples = []
    for i, (question, kind, ref, answer, also, after) in enumerate(training_questions(index, sections)):
        history = (first_turn(index, after, k, source_chars, i % 2 == 0, max_points, max_chars, scope, related_share)
                   if after else [])
        if after and not history:
            continue
        query = retrieval_query(question, history)
        found = retrieve_sections(index, query, [r for r in (ref, also) if r], k, source_chars, scope, related_share)
        if not found:  # retrieval missed a section: nothing faithful to teach
            continue
        hits, sources, positions = found
        if positions == [1] and len(hits) > 1 and swapper.random() < (SOURCE_SWAP if swap is None else swap):
            hits, sources, positions = swap_first_source(hits, sources, swapper.randrange(2, len(hits) + 1))
        if answer:
            target = cited_lines(answer, positions[0])
        else:
            target = key_point_target(index, query, hits, sources, positions, max_points, max_chars, history=history)
        if target:
            examples.append(SFTExample(question, build_messages(question, sources, history), target, kind, ref))
    for question in refusal_questions(index):
        if not reaches_model(index, gate, question, index.search(question, k=k)):  # refused before the model is asked
            continue
        _, sources, _ = retrieve_sections(index, question, [], k, source_chars, scope, related_share)
        examples.append(SFTExample(question, build_messages(question, sources),
                                   refusal_text(question_language(question)), "refusal", None))
    random.Random(seed).shuffle(examples)
    return examples


def swap_first_source(hits: list, sources: list, position: int) -> tuple[list, list, list[int]]:
    """(hits, sources, [position]) with the first source swapped with the one at ``position``
    (1-based): ``([a, b, c], [A, B, C], 3) -> ([c, b, a], [C, B, A], [3])``."""
    hits, sources = list(hits), list(sources)
    hits[0], hits[position - 1] = hits[position - 1], hits[0]
    sources[0], sources[position - 1] = sources[position - 1], sources[0]
    return hits, sources, [position]


def reference_examples(index: SearchIndex, questions, k: int = 3, max_points: int = TARGET_POINTS,
                       max_chars: int = TARGET_CHARS, source_chars: int = 0, scope: str = "section",
                       related_share: float = 0.0) -> list[SFTExample]:
    """Evaluation questions (``EvalQuestion``) with reference answers built like the training
    targets, for measuring loss/perplexity on held-out questions: covered ones whose gold section
    is retrieved, and out-of-corpus ones with the refusal."""

    examples = []
    for item in questions:
        history = list(item.history)
        query = retrieval_query(item.question, history)
        hits, sources, _ = retrieve_sections(index, query, [], k, source_chars, scope, related_share)
        messages = build_messages(item.question, sources, history)
        if not item.covered:
            examples.append(SFTExample(item.question, messages, refusal_text(question_language(item.question)),
                                       "refusal", None))
            continue
        positions = [n for n, h in enumerate(hits, start=1)
                     if any(gold_matches(g, h.section_ref) for g in item.gold_sections)][:2]
        if not positions:
            continue
        target = key_point_target(index, query, hits, sources, positions, max_points, max_chars, history=history)
        if target:
            examples.append(SFTExample(item.question, messages, target, "reference", hits[positions[0] - 1].section_ref))
    return examples


def dataset_hash(examples: list[SFTExample]) -> str:
    """sha256 of the examples as JSON: recorded with an adapter so its data can be recognised."""
    payload = json.dumps([asdict(e) for e in examples], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def key_point_target(index: SearchIndex, question: str, hits, sources: list[tuple[str, str]], positions: list[int],
                     max_points: int = TARGET_POINTS, max_chars: int = TARGET_CHARS, fill: bool = TARGET_FILL,
                     history: list[dict] = ()) -> str:
    """The target answer about the sections at ``positions`` (1-based among ``hits``): from each
    one's source as the prompt shows it (``sources``, ``prompt_sources``' (title, text)), the points
    the answer's quotes will not already show, sharing a question term or under a sub-heading
    that does (``whole_points``), the most related first, one a line, each cited ``[n]``, within
    ``max_points`` / ``max_chars`` (two sections get half each, so a reply keeps its length);
    ``fill``: the room left is filled with the source's other points, after them. A source whose
    every related point is quoted gives its key sentences. Then the synthesis and the
    quotes together cover more, and the adapter learns to say what it reads. "" when the first
    source shows nothing related, or a second one is asked for and shows nothing. ``history``: the
    conversation's earlier turns; the lines its replies said are not said again (a follow-up on the
    same section goes on with what the first answer left out)."""
    tokenize = index.tokenizer.tokenize
    terms = set(index.tokenizer.tokenize_query(question))
    quoted = [sentence for _, sentence in quoted_sentences(index, AnswerConfig(), terms, hits, positions)]
    earlier = [re.sub(r" ?\[\d+\]", "", line) for turn in history if turn["role"] == "assistant"
               for line in turn["content"].splitlines() if line.strip()]
    room = (max(1, max_points // len(positions)), max_chars // len(positions))
    lines = []
    for n in positions:
        shown = sources[n - 1][1]
        points = whole_points(tokenize, shown, quoted + earlier, terms, *room, related_only=True)
        if points and fill:
            points = whole_points(tokenize, shown, quoted + earlier, terms, *room)
        points = points or [point for point in (_clean(s) for s in key_sentences(terms, shown, tokenize, *room))
                            if not any(point in line for line in earlier)]
        if not points:
            return ""
        lines += [f"{point} [{n}]" for point in points]
    return "\n".join(lines)


def cited_lines(points, position: int) -> str:
    """One point a line, each citing source ``[position]``: the target answers' form."""
    return "\n".join(f"{point} [{position}]" for point in points)


def whole_points(tokenize, text: str, quoted: list[str], terms: set[str], max_points: int, max_chars: int,
                 ranked: bool = True, related_only: bool = False) -> list[str]:
    """``text``'s list items, then its other statements, uncut and not among ``quoted``; ranked
    by how many of the question's ``terms`` they share, their sub-heading's counting as in
    ``key_sentences``, then by standing under the same sub-heading as a sentence that does (ties
    in document order), within the limits. ``related_only``: only those
    sharing a term or standing under the same sub-heading as a sentence that does (an answer about
    early stopping may go on with its section's next sentence, not with the one on L2)."""

    sentences = headed_sentences(text)
    overlap = [sentence_overlap(terms, sentence, tokenize) for sentence in sentences]
    related = {sentence.group for sentence, score in zip(sentences, overlap) if score}
    order = sorted(range(len(sentences)), key=lambda i: not _LIST_ITEM.match(sentences[i].text))  # items first
    scored = {}
    for i in order:
        point = _clean(sentences[i].text)
        if is_point(point) and point not in scored and not any(point in _clean(q) for q in quoted):
            if not related_only or sentences[i].group in related:
                scored[point] = (-overlap[i], sentences[i].group not in related)
    points = list(scored)
    if ranked:
        points.sort(key=scored.get)
    chosen, used = [], 0
    for point in points:
        if used + len(point) <= max_chars:
            chosen.append(point)
            used += len(point)
        if len(chosen) == max_points:
            break
    return chosen


def _clean(sentence: str) -> str:
    """A quoted sentence as an answer line: list markers and emphasis removed."""
    return re.sub(r"\*\*|__", "", sentence).lstrip("-*•0123456789. ").strip()
