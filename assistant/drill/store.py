"""Drill progress on disk (SQLite, standard library), scheduled by FSRS (``assistant.drill.schedule``).

    store = DrillStore.open(data_dir / "drill.sqlite3")
    card = store.record("ana", "ml_basics_qa#8", score=0.4, answer="…", missed=[], now=time.time())
    card.due      # when section 8 comes back: soon after a weak answer, later after good ones
    store.retrievability("ana", card, now)   # the predicted chance of recalling it now

One row per (learner, section) card and one per review; every change is one transaction, so an
interrupted process never loses recorded history. A file written when drill used SM-2 is carried
over when opened: each SM-2 card is rescheduled by replaying its recorded answers through FSRS
(``DrillStore.migrated`` counts them), and the SM-2 rows are kept as they were. While another
process locks the file, each operation retries with backoff (0.1 s doubling, ``retry_seconds`` in
all) and then raises ``DrillStoreLocked``. A damaged file is never overwritten: opening it raises
``DrillStoreDamaged`` naming it, and ``DrillStore.recover`` keeps it aside (under a name no other
file has) before starting anew.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fsrs import Card as FsrsCard
from fsrs import Rating, State

from assistant.drill.schedule import Review, make_scheduler, new_card, rating_for, replay, utc

DAY = 86400.0
LOCK_RETRY_SECONDS = 10.0  # how long an operation keeps retrying a file locked by another process
SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    learner TEXT NOT NULL, section_ref TEXT NOT NULL,
    easiness REAL NOT NULL, interval_days REAL NOT NULL, repetitions INTEGER NOT NULL,
    due REAL NOT NULL, last_score REAL NOT NULL, reviews INTEGER NOT NULL,
    PRIMARY KEY (learner, section_ref));
CREATE TABLE IF NOT EXISTS fsrs_cards (
    learner TEXT NOT NULL, section_ref TEXT NOT NULL, card TEXT NOT NULL,
    due REAL NOT NULL, last_score REAL NOT NULL, reviews INTEGER NOT NULL,
    PRIMARY KEY (learner, section_ref));
CREATE TABLE IF NOT EXISTS fsrs_parameters (
    learner TEXT PRIMARY KEY, parameters TEXT NOT NULL, fitted_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (
    learner TEXT NOT NULL, section_ref TEXT NOT NULL, at REAL NOT NULL,
    score REAL NOT NULL, answer TEXT NOT NULL, missed TEXT NOT NULL, rating INTEGER);
CREATE TABLE IF NOT EXISTS key_points (
    section_ref TEXT NOT NULL, text_sha TEXT NOT NULL, points TEXT NOT NULL,
    PRIMARY KEY (section_ref, text_sha));
"""
# The table ``cards`` holds SM-2 state from before FSRS: read once, to carry it over, never written.


class DrillStoreError(RuntimeError):
    """The progress file cannot be used; the message says what to do."""


class DrillStoreLocked(DrillStoreError):
    """Another process held the file locked for the whole retry budget; the file is fine."""


class DrillStoreDamaged(DrillStoreError):
    """The file fails its integrity check (not a database, or corrupt): ``recover`` may keep it aside."""


@dataclass(frozen=True)
class Card:
    """A learner's schedule for one section (FSRS state)."""

    section_ref: str
    due: float = 0.0  # unix time it is due again
    last_score: float = 0.0  # last grade in [0, 1]
    reviews: int = 0  # answers recorded
    fsrs: FsrsCard | None = field(default=None, compare=False, repr=False)  # None: never reviewed

    @property
    def state(self) -> str:
        """"learning", "review" or "relearning" (FSRS's states)."""
        return (self.fsrs.state if self.fsrs else State.Learning).name.lower()

    @property
    def stability(self) -> float | None:
        """Days until recall is predicted to fall to 90%."""
        return self.fsrs.stability if self.fsrs else None


def pick_next(section_refs: list[str], cards: dict[str, Card], now: float,
              retrievability=lambda card: card.last_score) -> str:
    """The section to ask next: a due one (least likely recalled first, by ``retrievability``), else
    one never seen (corpus order), else the one due soonest."""
    if not section_refs:
        raise ValueError("the corpus has no sections to drill")
    wanted = set(section_refs)
    due = [c for ref, c in cards.items() if ref in wanted and c.due <= now]
    if due:
        return min(due, key=lambda c: (retrievability(c), c.last_score, c.due)).section_ref
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
        self.migrated = 0  # SM-2 cards carried over to FSRS when this store was opened

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
            store.migrated = store._transaction(_carry_over_sm2)
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
        rows = self._read("SELECT section_ref, due, last_score, reviews, card FROM fsrs_cards WHERE learner = ?",
                          (learner,))
        return {row[0]: _card(row) for row in rows}

    def scheduler(self, learner: str):
        """The learner's FSRS scheduler: their fitted parameters (``save_parameters``), else the defaults."""
        rows = self._read("SELECT parameters FROM fsrs_parameters WHERE learner = ?", (learner,))
        return make_scheduler(json.loads(rows[0][0]) if rows else None)

    def parameters(self, learner: str) -> list[float] | None:
        """The learner's fitted FSRS parameters, None while the defaults serve."""
        rows = self._read("SELECT parameters FROM fsrs_parameters WHERE learner = ?", (learner,))
        return json.loads(rows[0][0]) if rows else None

    def save_parameters(self, learner: str, parameters: list[float], now: float) -> None:
        """Schedule ``learner`` by these parameters from now on (cards keep their state)."""
        make_scheduler(parameters)  # validates: out-of-range parameters raise ValueError, nothing saved
        self._transaction(lambda db: db.execute("INSERT OR REPLACE INTO fsrs_parameters VALUES (?, ?, ?)",
                                                (learner, json.dumps(list(parameters)), now)))

    def retrievability(self, learner: str, card: Card, now: float, scheduler=None) -> float:
        """Predicted chance in [0, 1] that ``learner`` recalls the card's section at ``now`` (0 if never reviewed)."""
        if card.fsrs is None:
            return 0.0
        return float((scheduler or self.scheduler(learner)).get_card_retrievability(card.fsrs, utc(now)))

    def record(self, learner: str, section_ref: str, score: float, answer: str, missed: list[str],
               now: float, rating: Rating | None = None) -> Card:
        """Store one graded answer and the rescheduled card, atomically (both rows or neither).
        ``rating`` is the learner's own (again/hard/good/easy); without it the grade gives it (``rating_for``)."""
        rating = rating_for(score) if rating is None else Rating(rating)
        scheduler = self.scheduler(learner)

        def write(db: sqlite3.Connection) -> Card:
            row = db.execute("SELECT section_ref, due, last_score, reviews, card FROM fsrs_cards "
                             "WHERE learner = ? AND section_ref = ?", (learner, section_ref)).fetchone()
            before = _card(row) if row else Card(section_ref)
            reviewed, _ = scheduler.review_card(before.fsrs or new_card(section_ref, now), rating,
                                                review_datetime=utc(now))
            card = Card(section_ref, reviewed.due.timestamp(), score, before.reviews + 1, reviewed)
            db.execute("INSERT INTO reviews (learner, section_ref, at, score, answer, missed, rating) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (learner, section_ref, now, score, answer, "\n".join(missed), int(rating)))
            db.execute("INSERT OR REPLACE INTO fsrs_cards VALUES (?, ?, ?, ?, ?, ?)",
                       (learner, section_ref, reviewed.to_json(), card.due, card.last_score, card.reviews))
            return card

        return self._transaction(write)

    def reviews(self, learner: str) -> list[dict]:
        rows = self._read("SELECT section_ref, at, score, answer, missed, rating FROM reviews WHERE learner = ? "
                          "ORDER BY at", (learner,))
        return [{"section_ref": r[0], "at": r[1], "score": r[2], "answer": r[3],
                 "missed": r[4].split("\n") if r[4] else [], "rating": _rating(r[5], r[2]).name.lower()}
                for r in rows]

    def review_history(self, learner: str) -> list[Review]:
        """The learner's answers as the scheduler sees them (for ``schedule.fit_parameters``)."""
        rows = self._read("SELECT section_ref, at, score, rating FROM reviews WHERE learner = ? ORDER BY at", (learner,))
        return [Review(ref, at, _rating(rating, score)) for ref, at, score, rating in rows]

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


def _card(row) -> Card:
    ref, due, last_score, reviews, data = row
    return Card(ref, due, last_score, reviews, FsrsCard.from_json(data))


def _rating(stored: int | None, score: float) -> Rating:
    """The rating of a recorded answer: as stored, or from its grade for answers from before FSRS."""
    return rating_for(score) if stored is None else Rating(stored)


def _carry_over_sm2(db: sqlite3.Connection) -> int:
    """Give every SM-2 card that has no FSRS card one, by replaying its recorded answers through
    FSRS (a card with no recorded answer keeps its SM-2 due time); returns how many were carried over.
    Older files get the reviews' ``rating`` column first."""
    if "rating" not in {row[1] for row in db.execute("PRAGMA table_info(reviews)")}:
        db.execute("ALTER TABLE reviews ADD COLUMN rating INTEGER")
    pending = db.execute("SELECT c.learner, c.section_ref, c.due, c.last_score, c.reviews FROM cards c "
                         "LEFT JOIN fsrs_cards f ON f.learner = c.learner AND f.section_ref = c.section_ref "
                         "WHERE f.section_ref IS NULL").fetchall()
    schedulers: dict[str, object] = {}
    for learner, ref, due, last_score, reviews in pending:
        if learner not in schedulers:
            rows = db.execute("SELECT parameters FROM fsrs_parameters WHERE learner = ?", (learner,)).fetchall()
            schedulers[learner] = make_scheduler(json.loads(rows[0][0]) if rows else None)
        history = [Review(ref, at, _rating(rating, score)) for at, score, rating in db.execute(
            "SELECT at, score, rating FROM reviews WHERE learner = ? AND section_ref = ? ORDER BY at", (learner, ref))]
        card = replay(schedulers[learner], history).get(ref) or new_card(ref, due)
        db.execute("INSERT INTO fsrs_cards VALUES (?, ?, ?, ?, ?, ?)",
                   (learner, ref, card.to_json(), card.due.timestamp(), last_score, reviews))
    return len(pending)


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
