"""Study drill: the assistant asks a corpus question, grades the learner's answer, schedules reviews.

    session = DrillSession(index, model, DrillStore.open(path), learner="ana")  # model: None or a ChatModel
    question = session.next_question()          # a due section (least likely recalled first) / unseen / soonest due
    result = session.submit(question, "L1 的等值线是菱形，最优解容易落在坐标轴上……")
    result.score, result.missed                 # 0..1, the key points the answer left out
    result.next_due                             # when FSRS brings it back
    session.progress()                          # per topic: answers, scores, predicted recall now, due

Reviews are scheduled by FSRS (``assistant.drill.schedule``): the grade's 0/1/2 band is the rating
(Again / Hard / Good) unless the learner gives their own (``submit(..., rating="easy")``).

Grading (``grading.grade_answer``): an answer that contradicts the notes or whose terms are mostly
not theirs is wrong, one that also says enough (length, or key points covered) is good, anything
between partial. When the model can score texts (the in-process one can; ``model_check``), it
reads the answer after the notes: an answer that has two subjects of the question the wrong way
round is wrong, and one the notes do not make likelier is at best partial. Without such a model
the rules grade alone. It is optionally mixed with the LLM's 0/1/2 judgement of the answer against
the reference points (``judge_weight``; 0 by default: the bundled 0.5B model's grades do not track
hand grades, benchmarks/drill_grading.py). Key points (shown as covered and missed) are
extracted once per section text and kept in the store.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

from corpus.scopes import check_scope, in_scope, normalise_scope

from assistant.drill.grading import (coverage_score, extract_key_points, grade_answer, judge_answer, model_check,
                                     point_coverage)
from assistant.drill.schedule import grade_band, parse_rating
from assistant.drill.store import DrillStore, pick_next
from assistant.llm.errors import BackendError

log = logging.getLogger(__name__)

NEW_PER_DAY = 20  # new questions a day, after the due ones


def chapter_of(doc: str) -> str:
    """A document's chapter: its top-level folder, or the file itself at the corpus root."""
    return doc.split("/")[0]


def _day(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


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
    note: str = ""  # why the grade was made without the judge or the model check although configured ("" otherwise)
    grade: int = 0  # the score's band: 0 wrong, 1 partial, 2 good (what FSRS schedules by)
    contradiction: str = ""  # what the answer says against the notes ("" when nothing was found)
    support: float | None = None  # how far the notes back the answer (grading.ModelCheck), None unchecked

    @property
    def verdict(self) -> str:
        """The grade in words, as the page and the CLI show it: "答错或离题", "部分答对", "答得好"."""
        return GRADE_WORDS[self.grade]


GRADE_WORDS = ("答错或离题", "部分答对", "答得好")


class DrillSession:
    """One learner's drill over an index's sections, recorded in a ``DrillStore``."""

    def __init__(self, index, model, store: DrillStore, learner: str, judge_weight: float = 0.0,
                 clock=time.time, scope=(), new_per_day: int = NEW_PER_DAY, model_check: bool = True):
        if not learner.strip():
            raise ValueError("learner name is empty: pass a name so progress can be kept")
        if not 0 <= judge_weight <= 1:
            raise ValueError(f"judge_weight should be in [0, 1], got {judge_weight}")
        if new_per_day < 0:
            raise ValueError(f"new_per_day should be >= 0, got {new_per_day}")
        self.index, self.model, self.store = index, model, store
        self.learner, self.judge_weight, self.clock = learner.strip(), judge_weight, clock
        # the model reads each answer after the notes (grading.model_check) when it can score texts
        self.model_check = model_check and model is not None and model.capabilities.scoring
        self.scope = normalise_scope(scope)
        check_scope(self.scope, {section.doc for section in index.sections.values()})  # UnknownScopeError
        self.new_per_day = new_per_day
        self.refs = [ref for ref, section in index.sections.items() if in_scope(section.doc, self.scope)]

    def queue(self) -> dict:
        """Today's queue in scope: ``due`` (answered before, due now), ``new_today`` (first answered
        today, any chapter), ``new_left`` (new ones still allowed today), ``unseen`` (never answered)
        and ``next_due`` (the earliest due time still ahead, None if none)."""
        now, cards = self.clock(), self.store.cards(self.learner)
        first: dict[str, float] = {}
        for review in self.store.reviews(self.learner):
            first.setdefault(review["section_ref"], review["at"])
        today = _day(now)
        new_today = sum(1 for at in first.values() if _day(at) == today)
        ahead = [cards[ref].due for ref in self.refs if ref in cards and cards[ref].due > now]
        return {"due": sum(1 for ref in self.refs if ref in cards and cards[ref].due <= now),
                "new_today": new_today, "new_left": max(0, self.new_per_day - new_today),
                "unseen": sum(1 for ref in self.refs if ref not in cards), "next_due": min(ahead, default=None)}

    def next_question(self) -> DrillQuestion | None:
        """The next question of today's queue in scope: a due one (least likely recalled first), else
        a new one in corpus order while today's new ones are under ``new_per_day``; None when the
        queue is done for today (``queue()`` says when the next one is due)."""
        now, scheduler, cards = self.clock(), self.store.scheduler(self.learner), self.store.cards(self.learner)
        due = [ref for ref in self.refs if ref in cards and cards[ref].due <= now]
        if due:
            ref = pick_next(due, cards, now, lambda card: self.store.retrievability(self.learner, card, now, scheduler))
        else:
            if not self.queue()["new_left"]:
                return None
            # the first new question that can be graded (a section of only code or formulas has no key point)
            ref = next((ref for ref in self.refs if ref not in cards and self.key_points(ref)), None)
            if ref is None:
                return None
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
        section = self.index.sections[question.section_ref]
        check, note = None, ""
        if self.model_check and answer.strip():
            try:
                check = model_check(self.model, section.title, section.text, answer, self.index)
            except Exception as err:  # a model error (out of memory, a failed server) must not lose the answer
                log.warning("The model could not check the answer, grading without it.", exc_info=True)
                note = f"The model could not read this answer against the notes, so it was graded by rules alone: {err}"
        graded = grade_answer(answer, section.title, section.text, points, self.index, covered, check) \
            if answer.strip() else None
        judge = None
        if self.model is not None and self.judge_weight and answer.strip():
            try:
                judge = judge_answer(self.model, question.title, points, answer)
            except BackendError as err:  # the judge's server failed: the answer is still graded, without it
                log.warning("The judge failed, grading without it: %s", err)
                failed = f"The judge could not grade this answer, so it was graded without the judge: {err}"
                note = f"{note} {failed}".strip()
        base = graded.score if graded else 0.0
        score = base if judge is None else (1 - self.judge_weight) * base + self.judge_weight * judge
        card = self.store.record(self.learner, question.section_ref, score, answer, missed, self.clock(), own)
        return DrillResult(question, round(score, 3), round(coverage, 3), judge, covered, missed,
                           f"{section.doc} 第{section.number}题 {section.title.strip()}", card.due,
                           round(time.perf_counter() - started, 3), note, grade_band(score),
                           graded.contradiction if graded else "", graded.support if graded else None)

    def chapter_progress(self) -> list[dict]:
        """Per chapter in scope (a top-level folder; a file at the corpus root): questions, how many
        answered, due now, the mean last score and mean predicted recall of the answered ones."""
        rows: dict[str, dict] = {}
        for row in self.progress():
            chapter = rows.setdefault(row["chapter"], {"chapter": row["chapter"], "questions": 0, "answered": 0,
                                                       "due": 0, "scores": [], "recalls": []})
            chapter["questions"] += 1
            if row["answers"]:
                chapter["answered"] += 1
                chapter["due"] += row["due"] <= self.clock()
                chapter["scores"].append(row["last"])
                chapter["recalls"].append(row["recall"])
        for chapter in rows.values():
            scores, recalls = chapter.pop("scores"), chapter.pop("recalls")
            chapter["mean_score"] = round(sum(scores) / len(scores), 3) if scores else None
            chapter["mean_recall"] = round(sum(recalls) / len(recalls), 3) if recalls else None
        return list(rows.values())

    def progress(self) -> list[dict]:
        """Per section in scope: its chapter, title, answers given, last and mean score, the predicted
        chance of recalling it now (FSRS retrievability; None if never answered) and when it is due."""
        cards, now, scheduler = self.store.cards(self.learner), self.clock(), self.store.scheduler(self.learner)
        scores: dict[str, list[float]] = {}
        for review in self.store.reviews(self.learner):
            scores.setdefault(review["section_ref"], []).append(review["score"])
        rows = []
        for ref in self.refs:
            section = self.index.sections[ref]
            card, history = cards.get(ref), scores.get(ref, [])
            rows.append({"section_ref": ref, "chapter": chapter_of(section.doc), "number": section.number,
                         "title": section.title.strip(),
                         "answers": len(history), "last": card.last_score if card else None,
                         "mean": round(sum(history) / len(history), 3) if history else None,
                         "recall": round(self.store.retrievability(self.learner, card, now, scheduler), 3)
                         if card else None,
                         "due": card.due if card else None})
        return rows
