"""Drill mode: SM-2 scheduling on a fake clock, grading with known key points, the SQLite store."""

import sqlite3

import pytest

from assistant.drill import DrillSession
from assistant.drill.grading import extract_key_points, point_coverage
from assistant.drill.store import DAY, Card, DrillStore, DrillStoreError, pick_next, sm2
from corpus import load_corpus
from fakes import ScriptedGenerator
from index import open_index


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)


@pytest.fixture
def store(tmp_path):
    store = DrillStore.open(tmp_path / "drill.sqlite3")
    yield store
    store.close()


def test_sm2_intervals_grow_with_good_answers_and_reset_after_a_weak_one():
    card = Card("d#1")
    intervals = []
    for _ in range(4):
        card = sm2(card, 1.0, now=0)
        intervals.append(card.interval_days)
    assert intervals[:2] == [1.0, 6.0] and intervals[2] > 6 and intervals[3] > intervals[2]
    assert card.easiness > 2.5 and card.repetitions == 4
    weak = sm2(card, 0.2, now=0)
    assert (weak.repetitions, weak.interval_days, weak.due) == (0, 1.0, DAY) and weak.easiness < card.easiness
    assert sm2(Card("x", easiness=1.3), 0.0, 0).easiness == 1.3  # floor


def test_pick_next_prefers_due_weak_sections_then_unseen_then_soonest():
    refs = ["a", "b", "c"]
    assert pick_next(refs, {}, now=0) == "a"  # nothing seen: corpus order
    cards = {"a": Card("a", due=50, last_score=0.9), "b": Card("b", due=10, last_score=0.2)}
    assert pick_next(refs, cards, now=100) == "b"  # both due: the weaker one
    assert pick_next(refs, cards, now=5) == "c"  # none due: the unseen one
    cards["c"] = Card("c", due=30, last_score=1.0)
    assert pick_next(refs, cards, now=5) == "b"  # all seen, none due: soonest


def test_session_order_on_a_fake_clock(index, store):
    clock = Clock()
    session = DrillSession(index, None, store, "ana", clock=clock)
    first = session.next_question()
    assert first.section_ref == "ml_basics_qa#1"
    session.submit(first, "")  # a blank answer: score 0, due again in a day
    second = session.next_question()
    assert second.section_ref == "ml_basics_qa#2"  # not due yet: the next unseen one
    session.submit(second, "增加训练数据，降低模型复杂度，正则化，dropout，early stopping，集成学习")
    clock.now += 1.5 * DAY
    assert session.next_question().section_ref == "ml_basics_qa#1"  # the failed one is due first


def test_grading_with_known_key_points(index, store):
    session = DrillSession(index, ScriptedGenerator("2"), store, "ana", judge_weight=0.5)
    ref = "ml_basics_qa#8"
    store.save_key_points(ref, _sha(index, ref), ["L1正则的解容易落在坐标轴上", "L2正则使权重变小但不为零"])
    question = session.next_question().__class__(ref, "8", "L1正则为什么比L2正则更容易产生稀疏解?")
    good = session.submit(question, "因为L1正则的最优解常落在坐标轴上，所以权重为零。")
    assert good.covered == ["L1正则的解容易落在坐标轴上"] and good.missed == ["L2正则使权重变小但不为零"]
    assert good.coverage == 0.5 and good.judge == 1.0 and good.score == 0.75
    assert "第8题" in good.reference and good.next_due > 0
    assert "阅卷" in session.model.calls[0][0]["content"]  # the grading prompt reached the model
    blank = session.submit(question, "  ")
    assert blank.score == 0 and blank.judge is None and len(session.model.calls) == 1  # no model call
    assert [r["score"] for r in store.reviews("ana")] == [0.75, 0.0]


def test_judge_reply_without_a_grade_falls_back_to_coverage(index, store):
    session = DrillSession(index, ScriptedGenerator("不好说"), store, "ana", judge_weight=0.3)
    question = session.next_question()
    result = session.submit(question, "采集更多数据，数据增强，过采样和欠采样，损失加权")
    assert session.model.calls and result.judge is None and result.score == result.coverage > 0


def test_key_points_are_extracted_once_and_kept(index, store):
    session = DrillSession(index, None, store, "ana")
    points = session.key_points("ml_basics_qa#2")
    assert 1 <= len(points) <= 5 and all(4 <= len(p) <= 90 for p in points)
    assert store.key_points("ml_basics_qa#2", _sha(index, "ml_basics_qa#2")) == points


def test_extract_and_cover_points_on_a_hand_written_section(index):
    text = "过拟合是训练集好、测试集差。\n- 1. 增加训练数据\n- 2. **正则化**约束参数"
    points = extract_key_points(text)
    assert points == ["增加训练数据", "正则化约束参数", "过拟合是训练集好、测试集差。"]
    covered, missed = point_coverage(points, "可以加数据，或者用 regularization 约束参数", index.tokenizer)
    assert covered == ["正则化约束参数"] and len(missed) == 2  # English term expanded to 正则化


def test_progress_survives_a_restart(index, tmp_path):
    path = tmp_path / "drill.sqlite3"
    store = DrillStore.open(path)
    session = DrillSession(index, None, store, "ana")
    session.submit(session.next_question(), "数据增强 过采样")
    store.close()
    again = DrillSession(index, None, DrillStore.open(path), "ana")
    rows = {row["section_ref"]: row for row in again.progress()}
    assert rows["ml_basics_qa#1"]["answers"] == 1 and rows["ml_basics_qa#2"]["answers"] == 0
    assert DrillSession(index, None, again.store, "bo").progress()[0]["answers"] == 0  # per learner


def test_a_damaged_file_is_reported_untouched_then_kept_aside_on_recovery(tmp_path):
    path = tmp_path / "drill.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DrillStoreError, match="cannot be read.*has not been changed.*--recover"):
        DrillStore.open(path)
    assert path.read_bytes().startswith(b"this is not a database")
    store, kept = DrillStore.recover(path)
    assert kept.read_bytes().startswith(b"this is not a database") and store.cards("ana") == {}
    store.close()


def test_a_locked_file_says_so(tmp_path):
    path = tmp_path / "drill.sqlite3"
    DrillStore.open(path).close()
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DrillStoreError, match="locked by another process"):
            DrillStore.open(path, retry_seconds=0.1)
    finally:
        holder.rollback()
        holder.close()


def _sha(index, ref):
    import hashlib

    return hashlib.sha256(index.sections[ref].text.encode("utf-8")).hexdigest()
