from assistant.composition import compose, groundedness, key_sentences, split_sentences


def tokenize(text):
    return [w for w in text.replace("。", " ").replace("，", " ").split() if w]


def test_sentences_skip_code_formulas_and_headings():
    text = "第一句。第二句！\n#### 标题\n```\nx = 1。\n```\n$$a=b。$$\n- 1. 列表项"
    assert split_sentences(text) == ["第一句。", "第二句！", "- 1. 列表项"]


def test_key_sentences_prefer_overlap_keep_order_and_budget():
    text = "a b 无关句。c d 相关句。a c d 最相关句。e 也无关。"
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=2) == ["c d 相关句。", "a c d 最相关句。"]
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=2, max_chars=9) == ["c d 相关句。"]
    assert key_sentences({"zzz"}, text, tokenize) == []


def test_groundedness_share_of_answer_terms_in_sources():
    assert groundedness("a b [1]", {"a", "b", "c"}, tokenize) == 1.0
    assert groundedness("a x y z", {"a", "b", "c"}, tokenize) == 0.25
    assert groundedness("", {"a"}, tokenize) == 1.0


def test_compose_marks_quotes_with_their_source():
    assert compose("答 [1]。", [(1, "- 1. 数据增强。"), (2, "早停。")], "zh") == "答 [1]。\n\n资料原文要点：\n> 1. 数据增强。 [1]\n> 早停。 [2]"
    assert compose("Answer.", [], "en") == "Answer."
