"""Faults injected into the drill's progress file: a lock held by another process (briefly, past the
retry budget, during the CLI loop and the web page), ``--recover`` on a locked healthy file, and
recovers within one second. Retry budgets are a fraction of a second so the file runs fast."""

import sqlite3
import threading
import time

import pytest

from assistant.drill import DrillSession
from assistant.drill.store import DrillStore, DrillStoreLocked
from corpus import load_corpus
from index import open_index

ANSWER = "采集更多数据，数据增强，过采样，损失函数加权"


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "drill.sqlite3"
    DrillStore.open(path).close()
    return path


class Holder:
    """A second connection, as another process would hold the file: ``hold("EXCLUSIVE")`` blocks
    reads and writes, ``hold("IMMEDIATE")`` writes only."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def hold(self, mode="EXCLUSIVE"):
        self.db.execute(f"BEGIN {mode}")

    def release(self):
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


@pytest.fixture
def holder(path):
    holder = Holder(path)
    yield holder
    holder.release()
    holder.db.close()


def test_a_lock_released_within_the_budget_lets_the_answer_through(index, path, holder):
    store = DrillStore.open(path, retry_seconds=5.0)
    session = DrillSession(index, None, store, "ana")
    question = session.next_question()
    holder.hold()
    threading.Timer(0.3, holder.release).start()
    started = time.perf_counter()
    result = session.submit(question, ANSWER)
    assert 0.25 < time.perf_counter() - started < 3 and result.score > 0
    assert [r["answer"] for r in store.reviews("ana")] == [ANSWER]


@pytest.mark.parametrize("mode", ["EXCLUSIVE", "IMMEDIATE"])  # reads blocked too / the write transaction only
def test_a_lock_held_past_the_budget_writes_nothing_then_a_retry_records_once(index, path, holder, mode):
    store = DrillStore.open(path, retry_seconds=0.05)
    session = DrillSession(index, None, store, "ana")
    question = session.next_question()
    session.key_points(question.section_ref)  # cached: under IMMEDIATE only the record itself is refused
    holder.hold(mode)
    with pytest.raises(DrillStoreLocked, match="locked by another process"):
        session.submit(question, ANSWER)
    holder.release()
    assert store.reviews("ana") == [] and store.cards("ana") == {}  # neither row of the transaction
    session.submit(question, ANSWER)
    assert [r["answer"] for r in store.reviews("ana")] == [ANSWER] and store.cards("ana")[question.section_ref].reviews == 1


def test_retries_back_off_doubling_from_a_tenth_of_a_second_within_the_budget(path, holder, monkeypatch):
    pauses = []
    monkeypatch.setattr("assistant.drill.store.time.sleep", pauses.append)
    store = DrillStore.open(path, retry_seconds=1.0)
    holder.hold()
    with pytest.raises(DrillStoreLocked):
        store.cards("ana")
    assert pauses == pytest.approx([0.1, 0.2, 0.4, 0.3]) and sum(pauses) == pytest.approx(1.0)


def test_the_cli_keeps_a_typed_answer_through_a_lock_and_records_it_on_retry(run, monkeypatch, data_home):
    monkeypatch.setattr("assistant.drill.store.LOCK_RETRY_SECONDS", 0.05)
    store_path = data_home / "drill.sqlite3"
    DrillStore.open(store_path).close()
    other = Holder(store_path)
    prompts = []

    def typed(prompt):
        prompts.append(prompt)
        if prompt == "> " and len(prompts) == 1:
            other.hold()  # another process takes the file while the learner types
            return ANSWER
        if "try again" in prompt:
            other.release()
            return ""  # Enter: try again
        return "/quit"

    monkeypatch.setattr("builtins.input", typed)
    try:
        code, out, err = run("drill", "--learner", "ana", "--rules-only")
    finally:
        other.release()
        other.db.close()
    assert code == 0 and "Traceback" not in err and "locked by another process" in err
    assert prompts[1].startswith("Your answer is kept.") and "得分" in out and "✓" in out
    assert [r["answer"] for r in DrillStore.open(store_path).reviews("ana")] == [ANSWER]


def test_leaving_the_cli_while_locked_prints_the_unsaved_answer(run, monkeypatch, data_home):
    monkeypatch.setattr("assistant.drill.store.LOCK_RETRY_SECONDS", 0.05)
    store_path = data_home / "drill.sqlite3"
    DrillStore.open(store_path).close()
    other = Holder(store_path)
    answers = iter([ANSWER, "/quit"])

    def typed(prompt):
        if prompt == "> ":
            other.hold()
        return next(answers)

    monkeypatch.setattr("builtins.input", typed)
    try:
        code, out, err = run("drill", "--learner", "ana", "--rules-only")
    finally:
        other.release()
        other.db.close()
    assert code == 1 and "Traceback" not in err and "locked by another process" in err
    assert out.rstrip().endswith(f"here it is to copy:\n{ANSWER}")
    assert DrillStore.open(store_path).reviews("ana") == []


def test_recover_leaves_a_locked_healthy_file_alone(run, monkeypatch, data_home):
    monkeypatch.setattr("assistant.drill.store.LOCK_RETRY_SECONDS", 0.05)
    store_path = data_home / "drill.sqlite3"
    store = DrillStore.open(store_path)
    store.record("ana", "ml_basics_qa#1", 0.5, ANSWER, [], now=1.0)
    store.close()
    other = Holder(store_path)
    other.hold()
    try:
        code, _, err = run("drill", "--recover", "--rules-only")
        with pytest.raises(DrillStoreLocked):
            DrillStore.recover(store_path, retry_seconds=0.05)
    finally:
        other.release()
        other.db.close()
    assert code == 1 and "locked by another process" in err and "Traceback" not in err and "Kept" not in err
    assert list(data_home.glob("drill.sqlite3.damaged-*")) == []
    store, kept = DrillStore.recover(store_path)  # healthy and free: opened as it is
    assert kept is None and [r["answer"] for r in store.reviews("ana")] == [ANSWER]


def test_two_recovers_in_one_second_keep_two_files(run, monkeypatch, data_home):
    monkeypatch.setattr("assistant.drill.store.time.strftime", lambda *_: "20250101-120000")  # the same second
    monkeypatch.setattr("builtins.input", lambda _: "/quit")
    store_path = data_home / "drill.sqlite3"
    data_home.mkdir(parents=True, exist_ok=True)
    for n in (1, 2):
        store_path.write_bytes(b"garbage %d " % n * 200)
        code, _, err = run("drill", "--recover", "--rules-only")
        assert code == 0 and "Kept the damaged progress file" in err
    kept = sorted(data_home.glob("drill.sqlite3.damaged-*"))
    assert [p.name for p in kept] == ["drill.sqlite3.damaged-20250101-120000", "drill.sqlite3.damaged-20250101-120000-2"]
    assert [p.read_bytes()[:9] for p in kept] == [b"garbage 1", b"garbage 2"]


def test_the_page_reports_a_lock_and_keeps_the_question_and_answer(index, path, holder):
    from ui.drill import DrillHandlers

    drill = DrillHandlers(index, None, DrillStore.open(path, retry_seconds=0.05))
    text, question, _, _, _ = drill.next("ana")
    holder.hold()
    result, rows = drill.submit("ana", question, ANSWER)
    assert "locked by another process" in result and "你的回答还在输入框里" in result and rows == []
    again = drill.next("ana", question, ANSWER)  # "next" while locked: nothing the learner typed is cleared
    assert again[:3] == (text, question, ANSWER) and "locked by another process" in again[3]
    holder.release()
    result, rows = drill.submit("ana", question, ANSWER)
    assert result.startswith("**得分") and rows[0][4] == "1/17"  # one of the seed's 17 answered
