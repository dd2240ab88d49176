"""Study drill: the assistant asks a corpus question, grades the learner's answer, schedules reviews.

    session = DrillSession(index, model, DrillStore.open(path), learner="ana")  # model: None or a ChatModel
    question = session.next_question()          # a due section (least likely recalled first) / unseen / soonest due
    result = session.submit(question, "L1 的等值线是菱形，最优解容易落在坐标轴上……")
    result.score, result.missed                 # 0..1, the key points the answer left out
    result.next_due                             # when FSRS brings it back
    session.progress()                          # per topic: answers, scores, predicted recall now, due

Reviews are scheduled by FSRS (``assistant.drill.schedule``): the grade's 0/1/2 band is the rating
(Again / Hard / Good) unless the learner gives their own (``submit(..., rating="easy")``).

Grading is key-point coverage (each point's head-clause terms found in the answer, synonyms and
English terms expanded), optionally mixed with the LLM's 0/1/2 judgement of the answer against the
reference points (``judge_weight``; 0 by default: the bundled 0.5B model's grades do not track hand
grades, benchmarks/drill_grading.py). Key points are extracted once per section text and kept in
the store.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from assistant.drill.grading import coverage_score, extract_key_points, judge_answer, point_coverage
from assistant.drill.schedule import parse_rating
from assistant.drill.store import DrillStore, pick_next


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
    judge: float | None  # the LLM's judgement mapped to 0, 0.5, 1 (None without a model)
    covered: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    reference: str = ""  # "ml_basics_qa 第8题 L1正则为什么…": where to read the full answer
    next_due: float = 0.0  # unix time this section comes back
    seconds: float = 0.0  # time taken to grade


class DrillSession:
    """One learner's drill over an index's sections, recorded in a ``DrillStore``."""

    def __init__(self, index, model, store: DrillStore, learner: str, judge_weight: float = 0.0,
                 clock=time.time):
        if not learner.strip():
            raise ValueError("learner name is empty: pass a name so progress can be kept")
        if not 0 <= judge_weight <= 1:
            raise ValueError(f"judge_weight should be in [0, 1], got {judge_weight}")
        self.index, self.model, self.store = index, model, store
        self.learner, self.judge_weight, self.clock = learner.strip(), judge_weight, clock

    def next_question(self) -> DrillQuestion:
        refs = list(self.index.sections)
        now, scheduler = self.clock(), self.store.scheduler(self.learner)
        ref = pick_next(refs, self.store.cards(self.learner), now,
                        lambda card: self.store.retrievability(self.learner, card, now, scheduler))
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

    def submit(self, question: DrillQuestion, answer: str, rating: str | None = None) -> DrillResult:
        """Grade and record one answer; an empty answer scores 0 (and is recorded as a miss).
        ``rating`` ("again", "hard", "good", "easy") is the learner's own judgement of their recall,
        which FSRS schedules by instead of the grade's (ValueError for another word).

        Raises ``DrillStoreError`` (nothing recorded) when the progress file stays locked; calling
        again with the same answer records it once."""
        started = time.perf_counter()
        own = parse_rating(rating) if rating else None
        points = self.key_points(question.section_ref)
        covered, missed = point_coverage(points, answer, self.index.tokenizer) if answer.strip() else ([], points)
        coverage = coverage_score(len(covered), len(points))
        judge = None
        if self.model is not None and self.judge_weight and answer.strip():
            judge = judge_answer(self.model, question.title, points, answer)
        score = coverage if judge is None else (1 - self.judge_weight) * coverage + self.judge_weight * judge
        card = self.store.record(self.learner, question.section_ref, score, answer, missed, self.clock(), own)
        section = self.index.sections[question.section_ref]
        return DrillResult(question, round(score, 3), round(coverage, 3), judge, covered, missed,
                           f"{section.doc} 第{section.number}题 {section.title.strip()}", card.due,
                           round(time.perf_counter() - started, 3))

    def progress(self) -> list[dict]:
        """Per section: title, answers given, last and mean score, the predicted chance of recalling
        it now (FSRS retrievability; None if never answered) and when it is due."""
        cards, now, scheduler = self.store.cards(self.learner), self.clock(), self.store.scheduler(self.learner)
        scores: dict[str, list[float]] = {}
        for review in self.store.reviews(self.learner):
            scores.setdefault(review["section_ref"], []).append(review["score"])
        rows = []
        for ref, section in self.index.sections.items():
            card, history = cards.get(ref), scores.get(ref, [])
            rows.append({"section_ref": ref, "number": section.number, "title": section.title.strip(),
                         "answers": len(history), "last": card.last_score if card else None,
                         "mean": round(sum(history) / len(history), 3) if history else None,
                         "recall": round(self.store.retrievability(self.learner, card, now, scheduler), 3)
                         if card else None,
                         "due": card.due if card else None})
        return rows
