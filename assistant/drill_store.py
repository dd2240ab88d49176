"""Drill progress on disk (SQLite, standard library) and SM-2 spaced-repetition scheduling.

    store = DrillStore.open(data_dir / "drill.sqlite3")
    card = store.record("ana", "ml_basics_qa#8", score=0.4, answer="…", now=time.time())
    card.due      # when section 8 comes back: soon after a weak answer, later after good ones

One row per (learner, section) card and one per review; every change is one transaction, so an
interrupted process never loses recorded history. A damaged file is never overwritten: opening it
raises ``DrillStoreError`` naming it, and ``DrillStore.recover`` keeps it aside before starting anew.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DAY = 86400.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    learner TEXT NOT NULL, section_ref TEXT NOT NULL,
    easiness REAL NOT NULL, interval_days REAL NOT NULL, repetitions INTEGER NOT NULL,
    due REAL NOT NULL, last_score REAL NOT NULL, reviews INTEGER NOT NULL,
    PRIMARY KEY (learner, section_ref));
CREATE TABLE IF NOT EXISTS reviews (
    learner TEXT NOT NULL, section_ref TEXT NOT NULL, at REAL NOT NULL,
    score REAL NOT NULL, answer TEXT NOT NULL, missed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS key_points (
    section_ref TEXT NOT NULL, text_sha TEXT NOT NULL, points TEXT NOT NULL,
    PRIMARY KEY (section_ref, text_sha));
"""


class DrillStoreError(RuntimeError):
    """The progress file cannot be used (damaged or locked); the message says what to do."""


@dataclass(frozen=True)
class Card:
    """A learner's schedule for one section (SM-2 state)."""

    section_ref: str
    easiness: float = 2.5  # SM-2 E-factor, >= 1.3
    interval_days: float = 0.0  # days until the next review after the last one
    repetitions: int = 0  # good answers in a row
    due: float = 0.0  # unix time it is due again
    last_score: float = 0.0  # last grade in [0, 1]
    reviews: int = 0  # answers recorded


def sm2(card: Card, score: float, now: float) -> Card:
    """The card after an answer graded ``score`` in [0, 1] (SM-2 with quality = round(5 * score)).

    A weak answer (quality < 3) resets the repetitions and brings the section back in a day;
    good ones space it out 1, 6, then interval x E-factor days.
    """
    quality = round(5 * min(1.0, max(0.0, score)))
    easiness = max(1.3, card.easiness + 0.1 - (5 - quality) * (0.08 + (5 - quality) * 0.02))
    if quality < 3:
        repetitions, interval = 0, 1.0
    else:
        repetitions = card.repetitions + 1
        interval = 1.0 if repetitions == 1 else 6.0 if repetitions == 2 else round(card.interval_days * easiness, 1)
    return Card(card.section_ref, easiness, interval, repetitions, now + interval * DAY, score, card.reviews + 1)


def pick_next(section_refs: list[str], cards: dict[str, Card], now: float) -> str:
    """The section to ask next: a due one (weakest last answer first), else one never seen (corpus
    order), else the one due soonest."""
    if not section_refs:
        raise ValueError("the corpus has no sections to drill")
    due = [c for ref, c in cards.items() if ref in section_refs and c.due <= now]
    if due:
        return min(due, key=lambda c: (c.last_score, c.due)).section_ref
    unseen = [ref for ref in section_refs if ref not in cards]
    if unseen:
        return unseen[0]
    return min((cards[ref] for ref in section_refs), key=lambda c: c.due).section_ref


class DrillStore:
    """SQLite-backed cards, reviews and cached key points. Use one per process."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self.db = connection
        self.path = path
        self.lock = threading.Lock()  # the web page calls from worker threads: one statement at a time

    @classmethod
    def open(cls, path: str | Path, timeout: float = 5.0) -> "DrillStore":
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            db.executescript(SCHEMA)
        except sqlite3.OperationalError as err:
            if "locked" in str(err):
                raise DrillStoreError(f"The drill progress file {path} is locked by another process; close the "
                                      "other study-assistant drill and try again.") from None
            raise _damaged(path, err) from None
        except sqlite3.DatabaseError as err:
            raise _damaged(path, err) from None
        return cls(db, path)

    @classmethod
    def recover(cls, path: str | Path) -> tuple["DrillStore", Path]:
        """Keep a damaged file as ``<name>.damaged-<time>`` (never deleted) and start a new store."""
        path = Path(path)
        kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(kept)
        return cls.open(path), kept

    def cards(self, learner: str) -> dict[str, Card]:
        with self.lock:
            rows = self.db.execute("SELECT section_ref, easiness, interval_days, repetitions, due, last_score, "
                                   "reviews FROM cards WHERE learner = ?", (learner,)).fetchall()
        return {row[0]: Card(*row) for row in rows}

    def record(self, learner: str, section_ref: str, score: float, answer: str, missed: list[str],
               now: float) -> Card:
        """Store one graded answer and the rescheduled card, atomically."""
        card = sm2(self.cards(learner).get(section_ref, Card(section_ref)), score, now)
        with self.lock, self.db:  # one transaction: both rows or neither
            self.db.execute("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?)",
                            (learner, section_ref, now, score, answer, "\n".join(missed)))
            self.db.execute("INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (learner, section_ref, card.easiness, card.interval_days, card.repetitions, card.due,
                             card.last_score, card.reviews))
        return card

    def reviews(self, learner: str) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT section_ref, at, score, answer, missed FROM reviews WHERE learner = ? "
                                   "ORDER BY at", (learner,)).fetchall()
        return [{"section_ref": r[0], "at": r[1], "score": r[2], "answer": r[3], "missed": r[4].split("\n") if r[4]
                 else []} for r in rows]

    def key_points(self, section_ref: str, text_sha: str) -> list[str] | None:
        with self.lock:
            row = self.db.execute("SELECT points FROM key_points WHERE section_ref = ? AND text_sha = ?",
                                  (section_ref, text_sha)).fetchone()
        return row[0].split("\n") if row else None

    def save_key_points(self, section_ref: str, text_sha: str, points: list[str]) -> None:
        with self.lock, self.db:
            self.db.execute("INSERT OR REPLACE INTO key_points VALUES (?, ?, ?)", (section_ref, text_sha, "\n".join(points)))

    def close(self) -> None:
        self.db.close()


def _damaged(path: Path, err: Exception) -> DrillStoreError:
    return DrillStoreError(f"The drill progress file {path} cannot be read ({err}). It has not been changed. "
                           "Run `study-assistant drill --recover` to keep it aside and start a new one, or "
                           "restore it from a backup.")
