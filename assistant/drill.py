"""Study drill: the assistant asks a corpus question, grades the learner's answer, schedules reviews.

    session = DrillSession(index, generator, DrillStore.open(path), learner="ana")
    question = session.next_question()          # weakest / unseen / soonest-due section
    result = session.submit(question, "L1 的等值线是菱形，最优解容易落在坐标轴上……")
    result.score, result.missed                 # 0..1, the key points the answer left out
    session.progress()                          # per topic: answers, last and mean score, due

Grading is key-point coverage (each point's head-clause terms found in the answer, synonyms and
English terms expanded), optionally mixed with the LLM's 0/1/2 judgement of the answer against the
reference points (``judge_weight``; 0 by default: the bundled 0.5B model gave the same grade to all
26 hand-graded answers, see benchmarks/drill_grading.py). Key points are extracted once per
section text and kept in the store.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field

from assistant.composition import split_sentences
from assistant.drill_store import DrillStore, pick_next
from assistant.prompting import prompt_text

MAX_POINTS = 5  # key points per section
POINT_CHARS = 90  # longest key point kept (longer sentences are cut at a clause)
COVERED_SHARE = 0.5  # a point counts as covered when this share of its head clause's terms is in the answer
FULL_MARKS_POINTS = 3  # covering this many key points (or all, if fewer) is a complete interview answer


@dataclass(frozen=True)
class DrillQuestion:
    section_ref: str
    number: str
    title: str  # the corpus question, asked as is


@dataclass
class DrillResult:
    question: DrillQuestion
    score: float  # 0..1, what was recorded
    coverage: float  # share of key points covered
    judge: float | None  # the LLM's judgement mapped to 0, 0.5, 1 (None without a generator)
    covered: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    reference: str = ""  # "ml_basics_qa 第8题 L1正则为什么…": where to read the full answer
    next_due: float = 0.0  # unix time this section comes back
    seconds: float = 0.0  # time taken to grade


def extract_key_points(text: str, max_points: int = MAX_POINTS) -> list[str]:
    """The section's key points: its list items first (they carry the answer in this corpus), then
    its opening sentences, each cut to ``POINT_CHARS``.

    ``"过拟合是…。\\n- 1. 增加数据\\n- 2. 正则化" -> ["增加数据", "正则化", "过拟合是…。"]``
    """
    sentences = split_sentences(text)
    items = [s for s in sentences if re.match(r"^([-*•]|\d+[.、)]|[（(]\d+[)）])", s)]
    ordered = items + [s for s in sentences if s not in items]
    points = []
    for sentence in ordered:
        point = re.sub(r"\*\*|__", "", sentence)
        point = re.sub(r"^([-*•]\s*)?(\d+[.、)]\s*|[（(]\d+[)）]\s*)?", "", point).strip()
        if len(point) > POINT_CHARS:
            point = re.split(r"[,，;；:：]", point[:POINT_CHARS])[0]
        if is_point(point) and point not in points:
            points.append(point)
        if len(points) == max_points:
            break
    return points


def is_point(text: str) -> bool:
    """A gradable statement: some Chinese, no formula, not a figure caption or a lead-in ending in a colon."""
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    return (cjk >= 4 and "$" not in text and not text.endswith((":", "："))
            and not re.search(r"如上图|如下图|示意图|如下所示", text))


def point_coverage(points: list[str], answer: str, tokenizer) -> tuple[list[str], list[str]]:
    """(covered, missed) key points: a point is covered when ``COVERED_SHARE`` of its terms occur
    among the answer's terms (with the query glossary's synonyms and English translations)."""
    answer_terms = set(tokenizer.tokenize_query(answer))
    covered, missed = [], []
    for point in points:
        terms = _terms(_head_clause(point, tokenizer), tokenizer)
        share = len(terms & answer_terms) / len(terms) if terms else 0.0
        (covered if share >= COVERED_SHARE else missed).append(point)
    return covered, missed


def _terms(text: str, tokenizer) -> set[str]:
    return {t for t in tokenizer.tokenize(text) if len(t) > 1 or not t.isascii()}


def _head_clause(point: str, tokenizer) -> str:
    """What a point is about: its first clause when that says enough (3+ terms), else all of it.

    ``"重新清洗数据,数据不纯会导致过拟合…" -> "重新清洗数据"``; ``"欠拟合:模型在…" -> the whole point``.
    """
    head = re.split(r"[,，;；:：。]", point, maxsplit=1)[0]
    return head if len(_terms(head, tokenizer)) >= 3 or head == point else point


def coverage_score(covered: int, total: int) -> float:
    """Share of the expected points covered: ``FULL_MARKS_POINTS`` of them (or all, if fewer) is 1.0."""
    return min(1.0, covered / min(FULL_MARKS_POINTS, total)) if total else 0.0


def judge_answer(generator, question: str, points: list[str], answer: str) -> float | None:
    """The LLM's grade of ``answer`` against the reference points: 2 -> 1.0, 1 -> 0.5, 0 -> 0.0;
    None when its reply holds no grade."""
    prompt = prompt_text("grade_prompt.txt").format(
        question=question, points="\n".join(f"- {p}" for p in points), answer=answer.strip())
    reply = generator.generate([{"role": "user", "content": prompt}], max_new_tokens=4, temperature=0.0)
    digit = re.search(r"[012]", reply)
    return None if digit is None else int(digit.group(0)) / 2


class DrillSession:
    """One learner's drill over an index's sections, recorded in a ``DrillStore``."""

    def __init__(self, index, generator, store: DrillStore, learner: str, judge_weight: float = 0.0,
                 clock=time.time):
        if not learner.strip():
            raise ValueError("learner name is empty: pass a name so progress can be kept")
        if not 0 <= judge_weight <= 1:
            raise ValueError(f"judge_weight should be in [0, 1], got {judge_weight}")
        self.index, self.generator, self.store = index, generator, store
        self.learner, self.judge_weight, self.clock = learner.strip(), judge_weight, clock

    def next_question(self) -> DrillQuestion:
        refs = list(self.index.sections)
        ref = pick_next(refs, self.store.cards(self.learner), self.clock())
        section = self.index.sections[ref]
        return DrillQuestion(ref, section.number, section.title.strip())

    def key_points(self, section_ref: str) -> list[str]:
        text = self.index.sections[section_ref].text
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        points = self.store.key_points(section_ref, sha)
        if points is None:
            points = extract_key_points(text)
            self.store.save_key_points(section_ref, sha, points)
        return points

    def submit(self, question: DrillQuestion, answer: str) -> DrillResult:
        """Grade and record one answer; an empty answer scores 0 (and is recorded as a miss)."""
        started = time.perf_counter()
        points = self.key_points(question.section_ref)
        covered, missed = point_coverage(points, answer, self.index.tokenizer) if answer.strip() else ([], points)
        coverage = coverage_score(len(covered), len(points))
        judge = None
        if self.generator is not None and self.judge_weight and answer.strip():
            judge = judge_answer(self.generator, question.title, points, answer)
        score = coverage if judge is None else (1 - self.judge_weight) * coverage + self.judge_weight * judge
        card = self.store.record(self.learner, question.section_ref, score, answer, missed, self.clock())
        section = self.index.sections[question.section_ref]
        return DrillResult(question, round(score, 3), round(coverage, 3), judge, covered, missed,
                           f"{section.doc} 第{section.number}题 {section.title.strip()}", card.due,
                           round(time.perf_counter() - started, 3))

    def progress(self) -> list[dict]:
        """Per section: title, answers given, last and mean score, and when it is due."""
        cards = self.store.cards(self.learner)
        scores: dict[str, list[float]] = {}
        for review in self.store.reviews(self.learner):
            scores.setdefault(review["section_ref"], []).append(review["score"])
        rows = []
        for ref, section in self.index.sections.items():
            card, history = cards.get(ref), scores.get(ref, [])
            rows.append({"section_ref": ref, "number": section.number, "title": section.title.strip(),
                         "answers": len(history), "last": card.last_score if card else None,
                         "mean": round(sum(history) / len(history), 3) if history else None,
                         "due": card.due if card else None})
        return rows
