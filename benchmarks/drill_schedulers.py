"""FSRS (what drill schedules by) against the SM-2 scheduler it replaced, on simulated learners.

    python benchmarks/drill_schedulers.py                  # 40 learners x 50 questions, 365 days
    python benchmarks/drill_schedulers.py --learners 50 --days 180

The simulated learners are not FSRS: each question has a memory half-life that starts from the
question's difficulty and the learner's ability, grows after each recall (1.4-2.6 times at 90%
recall for an average learner, more when the recall was hard won) and shrinks after a lapse; recall at a review is drawn with probability
2^(-elapsed / half-life). Two measures:

1. **Predicting recall.** Each learner's questions are reviewed at the intervals SM-2 sets (with
   ±30% jitter, so the data favour neither model), and before each review a day or more after the
   previous one each model predicts the chance of recall: FSRS with its default parameters, FSRS
   with parameters fitted (``schedule.fit_parameters``) on the other half of the learners, and SM-2
   read as srs-benchmark reads it (recall 0.9 at the scheduled interval, exponential in between).
   Log loss and AUC over all those reviews of the held-out half.
2. **Reviews for the same retention.** Each scheduler drives the learners itself for the whole
   period: reviews per question, and retention (mean true recall probability over the days, after a
   question is first seen; and the share of reviews recalled). FSRS runs at several desired
   retentions; the reviews it needs at SM-2's retention are interpolated between them.

Prints both tables and writes benchmarks/results/drill_schedulers.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from pathlib import Path

from fsrs import Rating

from assistant.drill.schedule import Review, fit_parameters, make_scheduler, new_card, utc

REPO = Path(__file__).resolve().parents[1]
DAY = 86400.0


class Learner:
    """Half-life memory per question (days), not FSRS's model."""

    def __init__(self, rng: random.Random, questions: int):
        ability = rng.lognormvariate(0, 0.3)
        self.half_life = {q: ability * rng.lognormvariate(0.7, 0.5) for q in range(questions)}  # ~2 days
        self.growth = {q: (0.5 + 1.5 * rng.random()) * ability for q in range(questions)}
        self.rng = rng

    def recall_probability(self, question: int, elapsed_days: float) -> float:
        return 2 ** (-elapsed_days / self.half_life[question])

    def review(self, question: int, elapsed_days: float | None) -> bool:
        """Answer once (elapsed None: first sight, never recalled) and update the memory."""
        if elapsed_days is None:
            return False
        p = self.recall_probability(question, elapsed_days)
        recalled = self.rng.random() < p
        if recalled:
            self.half_life[question] *= 1 + 4 * self.growth[question] * (1.1 - p)  # a late recall teaches more
        else:
            self.half_life[question] = max(0.5, self.half_life[question] * 0.5)
        return recalled


def sm2(state: dict, recalled: bool) -> float:
    """The SM-2 scheduler drill used before FSRS (quality 4 for a recall, 0 for a lapse): days to next."""
    quality = 4 if recalled else 0
    state["ef"] = max(1.3, state["ef"] + 0.1 - (5 - quality) * (0.08 + (5 - quality) * 0.02))
    if quality < 3:
        state["reps"], state["interval"] = 0, 1.0
    else:
        state["reps"] += 1
        state["interval"] = 1.0 if state["reps"] == 1 else 6.0 if state["reps"] == 2 else state["interval"] * state["ef"]
    return state["interval"]


def review_logs(learner: Learner, questions: int, days: int, rng: random.Random) -> list[Review]:
    """Reviews at SM-2's intervals with ±30% jitter; each question first seen on a random early day."""
    out = []
    for q in range(questions):
        at, last, state = rng.uniform(0, 30) * DAY, None, {"ef": 2.5, "reps": 0, "interval": 0.0}
        while at < days * DAY:
            recalled = learner.review(q, None if last is None else (at - last) / DAY)
            out.append(Review(f"q{q}", at, Rating.Good if recalled else Rating.Again))
            last = at
            at += sm2(state, recalled) * rng.uniform(0.7, 1.3) * DAY
    return sorted(out, key=lambda r: r.at)


def predictions(reviews: list[Review], parameters) -> tuple[list[float], list[float], list[int]]:
    """(FSRS predictions, SM-2 predictions, outcomes) for reviews a day or more after the previous one."""
    scheduler = make_scheduler(parameters)
    cards, sm2_state, last = {}, {}, {}
    fsrs_p, sm2_p, y = [], [], []
    for review in reviews:
        ref, when = review.section_ref, utc(review.at)
        recalled = review.rating != Rating.Again
        if ref in cards and (review.at - last[ref]) >= DAY:
            elapsed = (review.at - last[ref]) / DAY
            fsrs_p.append(float(scheduler.get_card_retrievability(cards[ref], when)))
            sm2_p.append(0.9 ** (elapsed / max(sm2_state[ref]["interval"], 1e-3)))
            y.append(int(recalled))
        cards[ref], _ = scheduler.review_card(cards.get(ref) or new_card(ref, review.at), review.rating,
                                              review_datetime=when)
        sm2(sm2_state.setdefault(ref, {"ef": 2.5, "reps": 0, "interval": 0.0}), recalled)
        last[ref] = review.at
    return fsrs_p, sm2_p, y


def log_loss(p: list[float], y: list[int]) -> float:
    eps = 1e-6
    return statistics.fmean(-(t * math.log(max(q, eps)) + (1 - t) * math.log(max(1 - q, eps))) for q, t in zip(p, y))


def auc(p: list[float], y: list[int]) -> float:
    """Probability that a recalled review was given a higher prediction than a forgotten one."""
    from drill_grading import ranks  # a sibling script: average ranks, ties sharing theirs

    positives = sum(y)
    negatives = len(y) - positives
    return (sum(r for r, t in zip(ranks(p), y) if t) - positives * (positives + 1) / 2) / (positives * negatives)


def drive(learner: Learner, questions: int, days: int, next_days, rng: random.Random) -> tuple[int, float, float]:
    """Let a scheduler (``next_days(question, at, recalled) -> days``) drive one learner: (reviews,
    retention = mean true recall probability over the days after each question's first sight,
    share of reviews after the first sight that were recalled)."""
    seen, due, last = {}, {}, {}
    for q in range(questions):
        due[q] = rng.uniform(0, 30) * DAY
    reviews, recall_sum, recall_n, recalls = 0, 0.0, 0, 0
    for day in range(days):
        now = day * DAY
        for q in [q for q, at in due.items() if at <= now + DAY - 1]:
            at = max(due[q], now)
            recalled = learner.review(q, None if q not in last else (at - last[q]) / DAY)
            reviews += 1
            recalls += recalled
            last[q], seen[q] = at, True
            due[q] = at + max(next_days(q, at, recalled), 1 / 1440) * DAY
        for q in seen:
            recall_sum += learner.recall_probability(q, (now + DAY / 2 - last[q]) / DAY)
            recall_n += 1
    return reviews, recall_sum / max(recall_n, 1), recalls / max(reviews - len(seen), 1)


def sm2_driver():
    states = {}
    return lambda q, at, recalled: sm2(states.setdefault(q, {"ef": 2.5, "reps": 0, "interval": 0.0}), recalled)


def fsrs_driver(desired_retention: float, parameters=None):
    from fsrs import Scheduler

    scheduler = Scheduler(parameters=make_scheduler(parameters).parameters, desired_retention=desired_retention,
                          enable_fuzzing=False)
    cards = {}

    def next_days(q, at, recalled):
        card, _ = scheduler.review_card(cards.get(q) or new_card(f"q{q}", at), Rating.Good if recalled else Rating.Again,
                                        review_datetime=utc(at))
        cards[q] = card
        return (card.due.timestamp() - at) / DAY

    return next_days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=40)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "drill_schedulers.json"))
    args = parser.parse_args()
    started = time.perf_counter()

    # 1. predicting recall: fit on the first half of the learners, score on the second
    logs = [review_logs(Learner(random.Random(args.seed * 10_000 + i), args.questions), args.questions, args.days,
                        random.Random(args.seed * 10_000 + i + 5_000)) for i in range(args.learners)]
    half = args.learners // 2
    train = [Review(f"{i}:{r.section_ref}", r.at, r.rating) for i, rs in enumerate(logs[:half]) for r in rs]
    fitted, _, _ = fit_parameters(train)
    rows = {}
    for name, parameters in (("FSRS, default parameters", None), ("FSRS, fitted on the other learners", fitted)):
        fp, sp, y = [], [], []
        for reviews in logs[half:]:
            f, s, t = predictions(reviews, parameters)
            fp += f
            sp += s
            y += t
        rows[name] = {"log_loss": round(log_loss(fp, y), 4), "auc": round(auc(fp, y), 4), "n": len(y)}
    rows["SM-2 (recall 0.9 at its interval)"] = {"log_loss": round(log_loss(sp, y), 4), "auc": round(auc(sp, y), 4),
                                                 "n": len(y)}
    print(f"Predicting recall ({len(y)} held-out reviews, {args.learners - half} learners):")
    for name, row in rows.items():
        print(f"  {name:<38} log loss {row['log_loss']:.4f}  AUC {row['auc']:.4f}")

    # 2. workload at equal retention
    def run(make_driver) -> dict:
        totals = [drive(Learner(random.Random(7_000_000 + i), args.questions), args.questions, args.days,
                        make_driver(), random.Random(8_000_000 + i)) for i in range(half)]
        return {"reviews_per_question": round(statistics.fmean(t[0] for t in totals) / args.questions, 2),
                "retention": round(statistics.fmean(t[1] for t in totals), 4),
                "recalled_at_review": round(statistics.fmean(t[2] for t in totals), 4)}

    workload = {"SM-2": run(sm2_driver)}
    for retention in (0.80, 0.85, 0.90, 0.95, 0.97, 0.99):
        workload[f"FSRS {retention:.2f}"] = run(lambda: fsrs_driver(retention, fitted))
    print(f"\nReviews over {args.days} days ({half} learners x {args.questions} questions, each scheduler driving):")
    for name, row in workload.items():
        print(f"  {name:<10} {row['reviews_per_question']:6.2f} reviews per question, retention {row['retention']:.4f}, "
              f"recalled at review {row['recalled_at_review']:.4f}")
    target = workload["SM-2"]["retention"]
    fsrs_rows = sorted((row["retention"], row["reviews_per_question"]) for name, row in workload.items()
                       if name.startswith("FSRS"))
    at_target = None
    for (r0, n0), (r1, n1) in zip(fsrs_rows, fsrs_rows[1:]):
        if r0 <= target <= r1:
            at_target = round(n0 + (n1 - n0) * (target - r0) / (r1 - r0), 2)
    if at_target is not None:
        print(f"  FSRS at SM-2's retention {target:.4f}: {at_target:.2f} reviews per question "
              f"({at_target / workload['SM-2']['reviews_per_question']:.2f}x SM-2's)")
    else:
        print(f"  SM-2's retention {target:.4f} lies outside FSRS's range here; see the rows above")
    result = {"settings": vars(args), "prediction": rows, "workload": workload, "fsrs_reviews_at_sm2_retention": at_target,
              "fitted_parameters": fitted, "seconds": round(time.perf_counter() - started, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1), "utf-8")


if __name__ == "__main__":
    main()
