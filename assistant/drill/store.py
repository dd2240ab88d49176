"""Drill progress on disk (SQLite, standard library) and SM-2 spaced-repetition scheduling.

    store = DrillStore.open(data_dir / "drill.sqlite3")
    card = store.record("ana", "ml_basics_qa#8", score=0.4, answer="…", now=time.time())
    card.due      # when section 8 comes back: soon after a weak answer, later after good ones

One row per (learner, section) card and one per review; every change is one transaction, so an
interrupted process never loses recorded history. While another process locks the file, each
operation retries with backoff (0.1 s doubling, ``retry_seconds`` in all) and then raises
``DrillStoreLocked``. A damaged file is never overwritten: opening it raises ``DrillStoreDamaged``
naming it, and ``DrillStore.recover`` keeps it aside (under a name no other file has) before
starting anew.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DAY = 86400.0
LOCK_RETRY_SECONDS = 10.0  # how long an operation keeps retrying a file locked by another process
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
    """The progress file cannot be used; the message says what to do."""


class DrillStoreLocked(DrillStoreError):
    """Another process held the file locked for the whole retry budget; the file is fine."""


class DrillStoreDamaged(DrillStoreError):
    """The file fails its integrity check (not a database, or corrupt): ``recover`` may keep it aside."""


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

    def __init__(self, connection: sqlite3.Connection, path: Path, retry_seconds: float = LOCK_RETRY_SECONDS):
        self.db = connection
        self.path = path
        self.retry_seconds = retry_seconds  # total wait for a lock held by another process
        self.lock = threading.Lock()  # the web page calls from worker threads: one statement at a time

    @classmethod
    def open(cls, path: str | Path, retry_seconds: float | None = None) -> "DrillStore":
        """The store in ``path`` (created if missing) after an integrity check; ``DrillStoreLocked``
        if another process holds it locked longer than ``retry_seconds``, ``DrillStoreDamaged`` if
        the check fails."""
        path = Path(path)
        retry_seconds = LOCK_RETRY_SECONDS if retry_seconds is None else retry_seconds
        if retry_seconds < 0:
            raise ValueError(f"retry_seconds should be >= 0, got {retry_seconds}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
            db = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise _unusable(path, err) from None
        store = cls(db, path, retry_seconds)
        try:
            if store._retry(lambda: db.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
                raise DrillStoreDamaged(_damaged_message(path, "integrity check failed"))
            store._retry(lambda: db.executescript(SCHEMA))
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def recover(cls, path: str | Path, retry_seconds: float | None = None) -> tuple["DrillStore", Path | None]:
        """(store, kept): a file that fails its integrity check is kept as ``<name>.damaged-<time>``
        (never deleted or overwritten) and a new store started; a healthy file is opened as it is
        (kept is None); a locked one raises ``DrillStoreLocked`` and is left alone."""
        path = Path(path)
        try:
            return cls.open(path, retry_seconds), None
        except DrillStoreDamaged:
            pass
        kept = _unused_name(path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"))
        path.rename(kept)
        return cls.open(path, retry_seconds), kept

    def cards(self, learner: str) -> dict[str, Card]:
        rows = self._read("SELECT section_ref, easiness, interval_days, repetitions, due, last_score, reviews "
                          "FROM cards WHERE learner = ?", (learner,))
        return {row[0]: Card(*row) for row in rows}

    def record(self, learner: str, section_ref: str, score: float, answer: str, missed: list[str],
               now: float) -> Card:
        """Store one graded answer and the rescheduled card, atomically (both rows or neither)."""

        def write(db: sqlite3.Connection) -> Card:
            row = db.execute("SELECT section_ref, easiness, interval_days, repetitions, due, last_score, reviews "
                             "FROM cards WHERE learner = ? AND section_ref = ?", (learner, section_ref)).fetchone()
            card = sm2(Card(*row) if row else Card(section_ref), score, now)
            db.execute("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?)",
                       (learner, section_ref, now, score, answer, "\n".join(missed)))
            db.execute("INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (learner, section_ref, card.easiness, card.interval_days, card.repetitions, card.due,
                        card.last_score, card.reviews))
            return card

        return self._transaction(write)

    def reviews(self, learner: str) -> list[dict]:
        rows = self._read("SELECT section_ref, at, score, answer, missed FROM reviews WHERE learner = ? ORDER BY at",
                          (learner,))
        return [{"section_ref": r[0], "at": r[1], "score": r[2], "answer": r[3], "missed": r[4].split("\n") if r[4]
                 else []} for r in rows]

    def key_points(self, section_ref: str, text_sha: str) -> list[str] | None:
        rows = self._read("SELECT points FROM key_points WHERE section_ref = ? AND text_sha = ?",
                          (section_ref, text_sha))
        return rows[0][0].split("\n") if rows else None

    def save_key_points(self, section_ref: str, text_sha: str, points: list[str]) -> None:
        self._transaction(lambda db: db.execute("INSERT OR REPLACE INTO key_points VALUES (?, ?, ?)",
                                                (section_ref, text_sha, "\n".join(points))))

    def close(self) -> None:
        self.db.close()

    def _read(self, sql: str, params: tuple) -> list[tuple]:
        return self._retry(lambda: self.db.execute(sql, params).fetchall())

    def _transaction(self, work):
        """``work(db)`` inside BEGIN IMMEDIATE ... COMMIT, rolled back whole on any failure."""

        def attempt():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self.db)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            return result

        return self._retry(attempt)

    def _retry(self, attempt):
        """``attempt()``, tried again after 0.1, 0.2, 0.4 … s while the file is locked, until
        ``retry_seconds`` have been spent waiting; then ``DrillStoreLocked``. Other SQLite errors
        become ``DrillStoreDamaged`` (corrupt file) or ``DrillStoreError``."""
        delay, waited = 0.1, 0.0
        while True:
            try:
                with self.lock:
                    return attempt()
            except (sqlite3.ProgrammingError, sqlite3.InterfaceError):  # a bug here, not the file
                raise
            except sqlite3.Error as err:
                if not _is_busy(err):
                    raise (DrillStoreDamaged(_damaged_message(self.path, err)) if _is_corrupt(err)
                           else _unusable(self.path, err)) from None
            if waited >= self.retry_seconds:
                raise DrillStoreLocked(f"The drill progress file {self.path} is locked by another process; close "
                                       "the other study-assistant drill (or program using it) and try again.")
            pause = min(delay, self.retry_seconds - waited)
            time.sleep(pause)
            waited, delay = waited + pause, delay * 2


def _is_busy(err: sqlite3.Error) -> bool:
    """Another connection holds the lock ("database is locked"): worth waiting for."""
    return getattr(err, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(err)


def _is_corrupt(err: sqlite3.Error) -> bool:
    """The file itself is bad ("file is not a database", "database disk image is malformed")."""
    return getattr(err, "sqlite_errorname", "").startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) \
        or "not a database" in str(err) or "malformed" in str(err)


def _unused_name(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3`` … : the first name no file has."""
    candidate, n = path, 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _damaged_message(path: Path, err) -> str:
    return (f"The drill progress file {path} cannot be read ({err}). It has not been changed. "
            "Run `study-assistant drill --recover` to keep it aside and start a new one, or "
            "restore it from a backup.")


def _unusable(path: Path, err: Exception) -> DrillStoreError:
    return DrillStoreError(f"The drill progress file {path} cannot be used ({err}); check that its folder "
                           "exists and can be written.")
