"""Drill mode: FSRS scheduling on a fake UTC clock, SM-2 files carried over, grading with known key
points, the SQLite store."""

import sqlite3

import pytest

from assistant.drill import DrillSession
from assistant.drill.grading import (ModelCheck, exchange, extract_key_points, grade_answer, model_check, point_coverage,
                                     question_subjects)
from assistant.drill.schedule import (MIN_FIT_REVIEWS, NotEnoughReviews, Review, fit_parameters, log_loss,
                                     make_scheduler, parse_rating, rating_for)
from assistant.drill.store import DAY, Card, DrillStore, DrillStoreError, pick_next
from fsrs import Rating
from corpus import load_corpus
from fakes import CopyingReader, ScriptedGenerator
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


def test_fsrs_intervals_grow_with_good_answers_and_shrink_after_a_forgotten_one(store):
    now = 1_000_000.0
    gaps = []
    for _ in range(5):
        card = store.record("ana", "d#1", 1.0, "…", [], now)
        gaps.append(card.due - now)
        now = card.due  # answered when due
    # learning steps first (minutes), then days growing with each good answer
    assert gaps[0] < DAY and all(b > a for a, b in zip(gaps[1:], gaps[2:])) and gaps[-1] > 5 * DAY
    assert store.cards("ana")["d#1"].state == "review" and store.cards("ana")["d#1"].reviews == 5
    forgotten = store.record("ana", "d#1", 0.0, "", [], now)
    assert forgotten.due - now < DAY and forgotten.state == "relearning"
    assert forgotten.stability < card.stability


def test_grades_and_learners_own_words_become_ratings():
    assert [rating_for(s) for s in (0.0, 0.2, 0.34, 0.5, 0.67, 1.0)] == [
        Rating.Again, Rating.Again, Rating.Hard, Rating.Hard, Rating.Good, Rating.Good]
    assert [parse_rating(w) for w in ("again", " Easy ", "3")] == [Rating.Again, Rating.Easy, Rating.Good]
    with pytest.raises(ValueError, match="again, hard, good, easy"):
        parse_rating("perfect")


def test_an_easy_rating_from_the_learner_spaces_a_card_further_than_the_grade_would(store):
    graded = store.record("ana", "d#1", 0.8, "…", [], 0.0)  # Good by its grade
    easy = store.record("bo", "d#1", 0.8, "…", [], 0.0, rating=Rating.Easy)
    assert easy.due > graded.due and [r["rating"] for r in store.reviews("bo")] == ["easy"]


def test_retrievability_falls_with_time_and_orders_due_cards(index, store):
    card = store.record("ana", "d#1", 1.0, "…", [], 0.0)
    card = store.record("ana", "d#1", 1.0, "…", [], card.due)
    later = [store.retrievability("ana", card, card.due + days * DAY) for days in (0, 5, 30)]
    assert 1 >= later[0] > later[1] > later[2] > 0
    assert store.retrievability("ana", Card("never"), 0.0) == 0.0


def test_pick_next_prefers_due_sections_least_likely_recalled_then_unseen_then_soonest():
    refs = ["a", "b", "c"]
    assert pick_next(refs, {}, now=0) == "a"  # nothing seen: corpus order
    cards = {"a": Card("a", due=50, last_score=0.9), "b": Card("b", due=10, last_score=0.2)}
    assert pick_next(refs, cards, now=100) == "b"  # both due, no prediction given: the weaker one
    recall = {"a": 0.3, "b": 0.8}
    assert pick_next(refs, cards, now=100, retrievability=lambda c: recall[c.section_ref]) == "a"
    assert pick_next(refs, cards, now=5) == "c"  # none due: the unseen one
    cards["c"] = Card("c", due=30, last_score=1.0)
    assert pick_next(refs, cards, now=5) == "b"  # all seen, none due: soonest


def test_session_order_on_a_fake_clock(index, store):
    clock = Clock()
    session = DrillSession(index, None, store, "ana", clock=clock)
    first = session.next_question()
    assert first.section_ref == "ml_basics_qa#1"
    session.submit(first, "")  # a blank answer: score 0 (Again), due again within minutes
    second = session.next_question()
    assert second.section_ref == "ml_basics_qa#2"  # not due yet: the next unseen one
    session.submit(second, "增加训练数据，降低模型复杂度，正则化，dropout，early stopping，集成学习")
    clock.now += 1.5 * DAY
    assert session.next_question().section_ref == "ml_basics_qa#1"  # the failed one is due first
    rows = {row["section_ref"]: row for row in session.progress()}
    assert rows["ml_basics_qa#1"]["recall"] < rows["ml_basics_qa#2"]["recall"] <= 1
    assert rows["ml_basics_qa#3"]["recall"] is None and rows["ml_basics_qa#3"]["due"] is None


def test_drill_keeps_to_its_chapters_and_to_a_daily_number_of_new_questions(tmp_path, data_home, fake_encoder, store):
    from corpus.scopes import UnknownScopeError

    for doc, topic in (("基础/过拟合", "过拟合"), ("进阶/正则化", "正则化")):
        (tmp_path / "notes" / doc).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "notes" / f"{doc}.md").write_text(
            f"## 1.什么是{topic}？\n{topic}的定义。\n\n## 2.怎么处理{topic}？\n处理{topic}的办法。\n", "utf-8")
    index = open_index(load_corpus(tmp_path / "notes"), data_home, encoder=fake_encoder, progress=False)
    clock = Clock()
    session = DrillSession(index, None, store, "ana", clock=clock, scope=["进阶"], new_per_day=1)
    first = session.next_question()
    assert first.section_ref == "进阶/正则化#1" and session.refs == ["进阶/正则化#1", "进阶/正则化#2"]
    session.submit(first, "正则化的定义", rating="easy")
    assert session.next_question() is None  # nothing due, and today's one new question is done
    queue = session.queue()
    assert (queue["due"], queue["new_today"], queue["new_left"], queue["unseen"]) == (0, 1, 0, 1)
    assert queue["next_due"] > clock.now + DAY
    clock.now += DAY  # a new day: one more new question
    assert session.next_question().section_ref == "进阶/正则化#2"
    assert [(c["chapter"], c["questions"], c["answered"]) for c in session.chapter_progress()] == [("进阶", 2, 1)]
    everything = DrillSession(index, None, store, "ana", clock=clock)
    assert [(c["chapter"], c["answered"]) for c in everything.chapter_progress()] == [("基础", 0), ("进阶", 1)]
    with pytest.raises(UnknownScopeError, match="高级"):
        DrillSession(index, None, store, "ana", scope=["高级"])


def test_grading_with_known_key_points(index, store):
    session = DrillSession(index, ScriptedGenerator("2"), store, "ana", judge_weight=0.5)
    ref = "ml_basics_qa#8"
    store.save_key_points(ref, _sha(index, ref), ["L1正则的解容易落在坐标轴上", "L2正则使权重变小但不为零"])
    question = session.next_question().__class__(ref, "8", "L1正则为什么比L2正则更容易产生稀疏解?")
    good = session.submit(question, "因为L1正则的最优解常落在坐标轴上，所以权重为零。")
    assert good.covered == ["L1正则的解容易落在坐标轴上"] and good.missed == ["L2正则使权重变小但不为零"]
    section = index.sections[ref]
    alone = grade_answer("因为L1正则的最优解常落在坐标轴上，所以权重为零。", section.title, section.text,
                         store.key_points(ref, _sha(index, ref)), index).score
    assert good.coverage == 0.5 and good.judge == 1.0 and good.score == round(0.5 * alone + 0.5, 3)
    assert good.grade == (1 if good.score < 2 / 3 else 2)
    assert "第8题" in good.reference and good.next_due > 0
    assert "阅卷" in session.model.calls[0][0]["content"]  # the grading prompt reached the model
    blank = session.submit(question, "  ")
    assert blank.score == 0 and blank.judge is None and len(session.model.calls) == 1  # no model call
    assert [round(r["score"], 3) for r in store.reviews("ana")] == [good.score, 0.0]


def test_judge_reply_without_a_grade_falls_back_to_coverage(index, store):
    session = DrillSession(index, ScriptedGenerator("不好说"), store, "ana", judge_weight=0.3)
    question = session.next_question()
    result = session.submit(question, "采集更多数据，数据增强，过采样和欠采样，损失加权")
    section = index.sections[question.section_ref]
    alone = grade_answer("采集更多数据，数据增强，过采样和欠采样，损失加权", section.title, section.text,
                         session.key_points(question.section_ref), index).score
    assert session.model.calls and result.judge is None and result.score == round(alone, 3) > 0


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


def test_english_notes_and_lists_of_names_yield_key_points(index):
    text = ("Dropout randomly zeroes activations during training. It keeps units from co-adapting.\n"
            "- Use it after dense layers\n- Scale activations at test time")
    points = extract_key_points(text)
    assert points == ["Use it after dense layers", "Scale activations at test time",
                      "Dropout randomly zeroes activations during training.", "It keeps units from co-adapting."]
    covered, missed = point_coverage(points, "Dropout zeroes random activations while training; put it after dense layers",
                                     index.tokenizer)
    assert covered == ["Use it after dense layers", "Dropout randomly zeroes activations during training."]
    assert extract_key_points("有哪些经典的轻量化网络：\n1. SqueezeNet\n2. MobileNet\n3. AI绘画") == [
        "SqueezeNet", "MobileNet", "AI绘画"]
    assert extract_key_points("`std::deque`是C++标准库中的双端队列，支持高效的双端插入和删除操作，允许快速随机访问，"
                              "适合需要在两端频繁操作的场景，但在中间位置插入和删除元素时性能较差，且与`std::vector`相比，内存使用效率稍低。") == [
        "`std::deque`是C++标准库中的双端队列"]
    assert extract_key_points("满二叉树的节点数量 $n=2h-1$ ，所以只需判断 $n+1$ 是否为偶数。") == [
        "满二叉树的节点数量 $n=2h-1$ ，所以只需判断 $n+1$ 是否为偶数。"]
    assert extract_key_points("$$J=\\frac{1}{2n}\\sum (h-y)^2$$\n如下图所示：") == []


def test_a_section_without_key_points_is_not_drilled(tmp_path, data_home, fake_encoder, store):
    (tmp_path / "notes.md").write_text("## 1.写出注意力公式\n$$Attention(Q,K,V)=softmax(QK^T)V$$\n\n"
                                       "## 2.什么是过拟合？\n过拟合是训练集好、测试集差。\n", "utf-8")
    index = open_index(load_corpus(tmp_path / "notes.md"), data_home, encoder=fake_encoder, progress=False)
    assert DrillSession(index, None, store, "ana").next_question().section_ref == "notes#2"


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


SM2_FILE = """
CREATE TABLE cards (learner TEXT NOT NULL, section_ref TEXT NOT NULL, easiness REAL NOT NULL,
    interval_days REAL NOT NULL, repetitions INTEGER NOT NULL, due REAL NOT NULL, last_score REAL NOT NULL,
    reviews INTEGER NOT NULL, PRIMARY KEY (learner, section_ref));
CREATE TABLE reviews (learner TEXT NOT NULL, section_ref TEXT NOT NULL, at REAL NOT NULL,
    score REAL NOT NULL, answer TEXT NOT NULL, missed TEXT NOT NULL);
CREATE TABLE key_points (section_ref TEXT NOT NULL, text_sha TEXT NOT NULL, points TEXT NOT NULL,
    PRIMARY KEY (section_ref, text_sha));
"""


def test_a_file_written_by_the_sm2_drill_is_carried_over_whole(tmp_path):
    """Every SM-2 card gets an FSRS card from its own answers; the old rows and reviews stay."""
    path = tmp_path / "drill.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(SM2_FILE)
    reviews = [("ana", "s#1", 0.0, 1.0), ("ana", "s#1", DAY, 0.9), ("ana", "s#1", 7 * DAY, 1.0),
               ("ana", "s#2", 0.0, 0.1), ("bo", "s#1", 0.0, 0.5)]
    old.executemany("INSERT INTO reviews VALUES (?, ?, ?, ?, '…', '')", [(l, r, at, sc) for l, r, at, sc in reviews])
    old.executemany("INSERT INTO cards VALUES (?, ?, 2.5, ?, 1, ?, ?, ?)", [
        ("ana", "s#1", 6.0, 13 * DAY, 1.0, 3), ("ana", "s#2", 1.0, DAY, 0.1, 1), ("bo", "s#1", 1.0, DAY, 0.5, 1),
        ("bo", "s#9", 6.0, 20 * DAY, 0.8, 2)])  # s#9: its reviews were never written
    old.commit()
    old.close()

    store = DrillStore.open(path)
    assert store.migrated == 4
    ana, bo = store.cards("ana"), store.cards("bo")
    assert set(ana) == {"s#1", "s#2"} and set(bo) == {"s#1", "s#9"}
    assert ana["s#1"].reviews == 3 and ana["s#1"].state == "review" and ana["s#1"].due > 7 * DAY + DAY
    assert ana["s#2"].last_score == 0.1 and ana["s#2"].due < DAY  # forgotten: back within the day
    assert bo["s#9"].due == 20 * DAY  # no answers to replay: the SM-2 due time is kept
    assert sorted((r["section_ref"], r["rating"]) for r in store.reviews("ana")) == [
        ("s#1", "good"), ("s#1", "good"), ("s#1", "good"), ("s#2", "again")]
    store.close()
    kept = sqlite3.connect(path)
    assert kept.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 4  # SM-2 rows kept as they were
    kept.close()
    again = DrillStore.open(path)
    assert again.migrated == 0 and again.cards("ana") == ana  # carried over once
    again.close()


def _simulated_reviews(days=120, sections=40, forget_after=6.0):
    """A learner who recalls a section when reviewed within ``forget_after`` times its answers so
    far days of the previous review, answering each section when FSRS says it is due."""
    store_now = {f"s#{i}": float(i % 7) * DAY for i in range(sections)}
    counts = dict.fromkeys(store_now, 0)
    last = {}
    scheduler = make_scheduler()
    cards = {}
    from assistant.drill.schedule import new_card, utc

    out = []
    while True:
        ref, at = min(store_now.items(), key=lambda item: item[1])
        if at > days * DAY:
            return out
        recalled = ref not in last or (at - last[ref]) / DAY <= forget_after * (counts[ref] + 1)
        rating = Rating.Good if recalled else Rating.Again
        out.append(Review(ref, at, rating))
        card, _ = scheduler.review_card(cards.get(ref) or new_card(ref, at), rating, review_datetime=utc(at))
        cards[ref], last[ref], counts[ref] = card, at, counts[ref] + 1
        store_now[ref] = max(card.due.timestamp(), at + 3600)


def test_fitting_a_learners_parameters_lowers_their_log_loss_and_is_saved(store):
    reviews = _simulated_reviews(days=200, sections=100)  # 700 spaced reviews
    fitted, before, after = fit_parameters(reviews)
    assert len(fitted) == len(make_scheduler().parameters) and after < before
    assert log_loss(make_scheduler(fitted), reviews) == after
    store.save_parameters("ana", fitted, now=0.0)
    assert store.parameters("ana") == fitted and store.scheduler("ana").parameters == tuple(fitted)
    assert store.parameters("bo") is None
    with pytest.raises(NotEnoughReviews, match=str(MIN_FIT_REVIEWS)):
        fit_parameters(reviews[:10])
    with pytest.raises(ValueError):
        store.save_parameters("ana", [1.0, 2.0], now=0.0)
    assert store.parameters("ana") == fitted


def _sha(index, ref):
    import hashlib

    return hashlib.sha256(index.sections[ref].text.encode("utf-8")).hexdigest()


FREQUENCIES = ("图像中低频信息和高频信息的定义",
               "低频信息：表示图像中灰度值变化缓慢的区域，对应着图像中大块平坦的区域。\n"
               "高频信息：表示图像中灰度值变化剧烈的区域，对应着图像的边缘、噪声以及细节部分。")


def _grade(index, title, text, answer):
    return grade_answer(answer, title, text, extract_key_points(text), index)


def test_an_answer_that_swaps_the_questions_subjects_is_wrong(index):
    assert question_subjects(FREQUENCIES[0], index) == ["低频", "高频"]
    swapped = _grade(index, *FREQUENCIES, "低频信息指的是图像的边缘和细节，高频信息是大面积的平滑区域。")
    assert swapped.score < 1 / 3 and '"低频"' in swapped.contradiction and swapped.on_topic > 0.3


def test_a_near_copy_with_a_negation_dropped_is_wrong(index):
    text = "输出非零中心化：ReLU的输出是非零中心化的，这可能会导致后续层的输入分布偏移。"
    flipped = _grade(index, "ReLU的缺点是什么？", text, "ReLU的输出是零中心化的，所以后续层的输入分布不会偏移。")
    assert flipped.score < 1 / 3 and flipped.contradiction.startswith("drops the negation")


def test_a_correct_answer_in_other_words_is_good_and_a_short_one_partial(index):
    good = _grade(index, *FREQUENCIES, "低频是灰度变化平缓的部分，比如大片平坦的背景区域；高频是灰度变化剧烈的地方，"
                                       "也就是边缘轮廓和细节纹理，噪声一般也属于高频。")
    assert good.score >= 2 / 3 and not good.contradiction
    short = _grade(index, *FREQUENCIES, "低频是平坦区域。")
    assert 1 / 3 <= short.score < 2 / 3 and short.substance < 1


def test_an_off_topic_answer_is_wrong(index):
    off = _grade(index, *FREQUENCIES, "这是说卷积神经网络的池化层可以减少参数量，防止模型过拟合，加快训练。")
    assert off.score < 1 / 3 and off.on_topic < 0.3 and not off.contradiction


def test_an_english_answer_to_chinese_notes_is_judged_by_its_technical_terms(index):
    title, text = "什么是过拟合，如何解决？", "过拟合：模型在训练集上表现很好，在测试集上表现差。\n1. 增加训练数据\n2. 正则化\n3. dropout"
    good = _grade(index, title, text, "Overfitting: the model fits the training set well but does badly on the test set. "
                                      "Fix it with more training data, regularization or dropout.")
    assert good.score >= 2 / 3 and good.on_topic > 0.5


def test_the_models_reading_finds_swapped_subjects_and_how_far_the_notes_back_an_answer(index):
    reader = CopyingReader()
    right = model_check(reader, *FREQUENCIES, "低频信息：表示图像中灰度值变化缓慢的区域，高频信息：对应着图像的边缘、噪声以及细节部分。", index)
    assert right.swapped is None and right.support > 0.5
    swapped = model_check(reader, *FREQUENCIES, "高频信息：表示图像中灰度值变化缓慢的区域，低频信息：对应着图像的边缘、噪声以及细节部分。", index)
    assert swapped.swapped == ("低频", "高频")
    before = len(reader.scored)
    unrelated = model_check(reader, *FREQUENCIES, "这是说卷积神经网络的池化层可以减少参数量。", index)
    assert unrelated.support < 0 and unrelated.swapped is None
    assert len(reader.scored) == before + 2  # named neither subject: no exchange was scored
    assert exchange("ViT切块，MAE掩码，vit更简单", "vit", "mae") == "MAE切块，ViT掩码，MAE更简单"
    assert exchange("Transformer-XL用循环，Transformer不用", "Transformer", "Transformer-XL") == \
        "Transformer用循环，Transformer-XL不用"  # the longer term is not read as the shorter one
    assert exchange("GAN和VAE都是生成模型，organ不是", "gan", "vae") == "VAE和GAN都是生成模型，organ不是"


def test_the_models_reading_decides_what_the_rules_cannot(index):
    answer = "低频是灰度变化平缓的部分，比如大片平坦的背景区域；高频是灰度变化剧烈的地方，也就是边缘轮廓和细节纹理。"
    points = extract_key_points(FREQUENCIES[1])
    alone = grade_answer(answer, *FREQUENCIES, points, index)
    assert alone.score >= 2 / 3 and alone.support is None  # good by the rules
    backed = grade_answer(answer, *FREQUENCIES, points, index, check=ModelCheck(0.6, None))
    assert backed.score >= 2 / 3 and backed.support == 0.6
    unbacked = grade_answer(answer, *FREQUENCIES, points, index, check=ModelCheck(-0.2, None))
    assert 1 / 3 <= unbacked.score < 2 / 3  # the notes make it less likely: at best partial
    swapped = grade_answer(answer, *FREQUENCIES, points, index, check=ModelCheck(0.6, ("低频", "高频")))
    assert swapped.score < 1 / 3 and swapped.contradiction == 'has "低频" and "高频" the wrong way round'
    # among good answers, the one the notes back more ranks higher
    assert grade_answer(answer, *FREQUENCIES, points, index, check=ModelCheck(0.9, None)).score > backed.score


def test_a_drill_with_a_model_that_scores_texts_reads_each_answer(index, store):
    from assistant.drill import DrillQuestion
    from assistant.llm.errors import BackendError

    ref = "ml_basics_qa#8"
    question = DrillQuestion(ref, "8", index.sections[ref].title)
    reader = CopyingReader()
    checked = DrillSession(index, reader, store, "ana").submit(question, "L1正则容易产生稀疏解，因为它的最优解常落在坐标轴上。")
    assert checked.support is not None and reader.scored and checked.note == ""
    assert DrillSession(index, reader, store, "bo", model_check=False).submit(question, "稀疏解").support is None
    assert DrillSession(index, ScriptedGenerator("2"), store, "cy").submit(question, "稀疏解").support is None

    class Broken(CopyingReader):
        def __init__(self, error):
            super().__init__()
            self.error = error

        def continuation_logprobs(self, prompt, text):
            raise self.error

    answer = "L1正则的解在坐标轴上"
    section = index.sections[ref]
    alone = grade_answer(answer, section.title, section.text, store.key_points(ref, _sha(index, ref)), index).score
    for learner, error in (("di", BackendError("the server went away")), ("ed", RuntimeError("CUDA out of memory"))):
        failed = DrillSession(index, Broken(error), store, learner).submit(question, answer)
        assert failed.support is None and "rules alone" in failed.note and failed.score == round(alone, 3)
        assert [r["answer"] for r in store.reviews(learner)] == [answer]  # recorded all the same
