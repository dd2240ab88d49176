"""Review scheduling by FSRS (the maintained ``fsrs`` package, py-fsrs 6): when each section comes
back, and how likely the learner is to recall it now.

    scheduler = make_scheduler()                       # or make_scheduler(parameters fitted to a learner)
    card = new_card("ml_basics_qa#8", now)
    card, log = scheduler.review_card(card, rating_for(0.4), review_datetime=utc(now))
    scheduler.get_card_retrievability(card, utc(now + 3 * DAY))   # predicted recall in 3 days

A grade in [0, 1] becomes a rating by its 0/1/2 band (under 1/3: Again, under 2/3: Hard, else
Good); a learner may give their own rating instead (again / hard / good / easy). Intervals are not
fuzzed, so the same answers on the same clock give the same schedule. ``fit_parameters`` fits a
learner's own FSRS parameters to their reviews with the library's optimizer, and ``log_loss``
scores any parameters on those reviews (how well they predicted each recall).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone

from fsrs import Card as FsrsCard
from fsrs import Rating, ReviewLog, Scheduler
from fsrs.scheduler import DEFAULT_PARAMETERS

RATINGS = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}
MIN_FIT_REVIEWS = 512  # reviews a day or more after the previous one of their section: the
# library's optimizer returns its defaults with fewer (one mini-batch)


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def grade_band(score: float) -> int:
    """A score in [0, 1] as a grade: 0 wrong (under 1/3), 1 partial (under 2/3), 2 good."""
    return min(2, int(3 * min(1.0, max(0.0, score))))


def rating_for(score: float) -> Rating:
    """Our grade in [0, 1] as an FSRS rating: its 0/1/2 band -> Again / Hard / Good."""
    return (Rating.Again, Rating.Hard, Rating.Good)[grade_band(score)]


def parse_rating(text: str) -> Rating:
    """``"again" | "hard" | "good" | "easy"`` (or 1–4) -> Rating; ValueError for anything else."""
    key = text.strip().lower()
    if key in RATINGS:
        return RATINGS[key]
    if key in ("1", "2", "3", "4"):
        return Rating(int(key))
    raise ValueError(f"a rating is one of again, hard, good, easy (or 1-4), got {text!r}")


def card_id(section_ref: str) -> int:
    """A stable id for a section's card (the library's default id is the creation time)."""
    return int(hashlib.sha256(section_ref.encode("utf-8")).hexdigest()[:12], 16)


def new_card(section_ref: str, now: float) -> FsrsCard:
    return FsrsCard(card_id=card_id(section_ref), due=utc(now))


def make_scheduler(parameters=None) -> Scheduler:
    """The FSRS scheduler: the library's default parameters unless a learner's fitted ones are given."""
    return Scheduler(parameters=tuple(parameters) if parameters else DEFAULT_PARAMETERS, enable_fuzzing=False)


@dataclass(frozen=True)
class Review:
    """One recorded answer as the scheduler sees it."""

    section_ref: str
    at: float  # unix time
    rating: Rating


def replay(scheduler: Scheduler, reviews: list[Review]) -> dict[str, FsrsCard]:
    """Each section's card after its reviews in time order (how a migrated history is scheduled)."""
    cards: dict[str, FsrsCard] = {}
    for review in sorted(reviews, key=lambda r: r.at):
        card = cards.get(review.section_ref) or new_card(review.section_ref, review.at)
        cards[review.section_ref], _ = scheduler.review_card(card, review.rating, review_datetime=utc(review.at))
    return cards


def predictions(scheduler: Scheduler, reviews: list[Review]) -> list[tuple[float, int]]:
    """(predicted recall, recalled 0/1) for every review made a day or more after the previous one
    of its section: what the scheduler foresaw against what happened (Again = not recalled)."""
    cards: dict[str, FsrsCard] = {}
    pairs = []
    for review in sorted(reviews, key=lambda r: r.at):
        card = cards.get(review.section_ref)
        when = utc(review.at)
        if card is None:
            card = new_card(review.section_ref, review.at)
        elif card.last_review is not None and (when - card.last_review).days > 0:
            pairs.append((scheduler.get_card_retrievability(card, when), int(review.rating != Rating.Again)))
        cards[review.section_ref], _ = scheduler.review_card(card, review.rating, review_datetime=when)
    return pairs


def log_loss(scheduler: Scheduler, reviews: list[Review]) -> float | None:
    """Mean binary cross-entropy of the predicted recalls (None when no review can be scored)."""
    pairs = predictions(scheduler, reviews)
    if not pairs:
        return None
    eps = 1e-6
    return sum(-(y * math.log(max(p, eps)) + (1 - y) * math.log(max(1 - p, eps))) for p, y in pairs) / len(pairs)


def until(seconds: float) -> str:
    """How long until a due time, for people: "10 分钟", "3 小时", "6 天" ("现在" when it is due)."""
    if seconds <= 0:
        return "现在"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} 分钟"
    if seconds < 86400:
        return f"{round(seconds / 3600)} 小时"
    return f"{round(seconds / 86400)} 天"


class NotEnoughReviews(ValueError):
    """Too few spaced reviews to fit parameters."""


def fit_parameters(reviews: list[Review]) -> tuple[list[float], float, float]:
    """(fitted parameters, log loss before with the defaults, log loss after) on these reviews.

    Raises NotEnoughReviews under ``MIN_FIT_REVIEWS`` spaced reviews. Needs torch (a dependency of
    the project) for the library's optimizer."""
    from fsrs import Optimizer

    scored = len(predictions(make_scheduler(), reviews))
    if scored < MIN_FIT_REVIEWS:
        raise NotEnoughReviews(f"{scored} reviews came a day or more after the previous one of their "
                               f"question; fitting needs at least {MIN_FIT_REVIEWS}")
    logs = [ReviewLog(card_id=card_id(r.section_ref), rating=r.rating, review_datetime=utc(r.at),
                      review_duration=None) for r in reviews]
    fitted = [float(p) for p in Optimizer(logs).compute_optimal_parameters()]
    return fitted, log_loss(make_scheduler(), reviews), log_loss(make_scheduler(fitted), reviews)
