import pytest

from assistant.answer.quotes import compose, key_sentences, lead_sentences, synthesis_of
from assistant.answer.sources import trim_source
from assistant.answer.verification import (
    cross_language_groundedness,
    drop_repeated_lines,
    drop_unfinished_line,
    drop_source_headers,
    groundedness,
    holders,
    recite_copied_lines,
    repeats_quotes,
)
from assistant.text import headed_sentences, letters, split_sentences


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


def test_key_sentences_fill_the_room_left_with_the_sections_opening():
    """With ``fill``, sentences sharing no term take the room the sharing ones leave, in the
    section's order and after them: the notes answer their heading's question from their first
    lines. A sentence about a figure the quote cannot show is passed over."""
    text = "x 是一种统计模型。如上图所示，y 在绿点处。它由 z 组合而成。c d 相关句。e 也无关。f 更无关。"
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=3) == ["c d 相关句。"]  # not without fill
    filled = key_sentences({"c", "d"}, text, tokenize, max_sentences=3, fill=True)
    assert filled == ["x 是一种统计模型。", "c d 相关句。", "e 也无关。"]  # "它…" follows a sentence not quoted
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=1, fill=True) == ["c d 相关句。"]  # sharing first
    assert key_sentences({"zzz"}, text, tokenize, max_sentences=2, fill=True) == []  # nothing is about the question
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=9, max_chars=13, fill=True) == ["c d 相关句。"]
    # the fill stops at the first sentence that does not fit (the opening, not what follows it)
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=9, max_chars=15, fill=True) == ["c d 相关句。"]
    # a sharing sentence pointing back to one the fill took comes with it; a signpost is not filled
    leaning = "x 是一种统计模型。它 c d 相关。接下来，我们拆解 y。e 无关。"
    assert key_sentences({"c", "d"}, leaning, tokenize, max_sentences=3, fill=True) == [
        "x 是一种统计模型。", "它 c d 相关。", "e 无关。"]
    assert key_sentences({"c", "d"}, leaning, tokenize, max_sentences=2, fill=True) == [
        "x 是一种统计模型。", "它 c d 相关。"]
    # the section is about the question even when what shares its terms was said already
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=2, said="c d 相关句。", fill=True) == [
        "x 是一种统计模型。", "e 也无关。"]


@pytest.mark.parametrize("sentence, passed_over", [
    ("如上图所示，最优的 w 在绿色的点处。", True), ("见下图。", True), ("图3中的曲线更平。", True),
    ("接下来，Rocky就带着大家完整拆解它的流程。", True),
    ("数据（如图像、文本）先编码。", False), ("例如图卷积网络聚合邻居。", False), ("实际上图像更大。", False),
    ("接下来，将mask区域裁剪并放大后重绘。", False), ("本文提出了一种新的蒸馏方法。", False),
])
def test_the_fill_passes_over_figures_and_signposts_only(sentence, passed_over):
    text = f"c d 相关句。{sentence}"
    filled = key_sentences({"c", "d"}, text, lambda t: t.replace("。", " ").split(), max_sentences=2, fill=True)
    assert (sentence not in filled) == passed_over


def test_key_sentences_pass_over_lead_ins_and_bold_headings():
    """A sentence ending in a colon stood before a formula, code or list the quote cannot show; a
    bold line is a heading: quoted alone they say nothing, so the next best sentences are quoted."""
    text = "c d 的定义如下：\n$$f(x)=x\\sigma(x)$$\n**c d 的计算步骤**\nc d 保留负值的梯度。c 比 d 平滑。"
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=2) == ["c d 保留负值的梯度。", "c 比 d 平滑。"]
    assert lead_sentences("定义如下：\n第一句。第二句。", max_sentences=1) == ["第一句。"]


def test_key_sentences_pass_over_sentences_that_only_point_to_a_link():
    """"论文链接：https://…" names the question's terms and says nothing a learner can read: with
    its link taken out it is a lead-in. A sentence that says something around a link is kept."""
    text = ("c d 论文链接：https://arxiv.org/pdf/2010.02502.pdf\n"
            "更多 c d 详细内容，大家可以查阅：[c d 全解析](https://zhuanlan.zhihu.com/p/1)\n"
            "- c d 论文：[C D: a study](https://arxiv.org/abs/1)\n"
            "c d（[论文](https://arxiv.org/abs/2)）把采样降到几十步。c 比 d 平滑。")
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=3) == [
        "c d（[论文](https://arxiv.org/abs/2)）把采样降到几十步。", "c 比 d 平滑。"]
    assert lead_sentences("论文链接：https://a.b/c.pdf\n第一句。", max_sentences=1) == ["第一句。"]


def test_key_sentences_skip_what_was_said_word_for_word():
    text = "1. a c 第一句。c d 相关句。a c d 最相关句。"
    said = "**A C d 最相关句** [1]\n另一句。"  # emphasis, case and punctuation aside, the same words
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=2, said=said) == ["1. a c 第一句。", "c d 相关句。"]
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=2, said="a c 第一句 [1]") == ["c d 相关句。", "a c d 最相关句。"]
    assert key_sentences({"c", "d"}, text, tokenize, max_sentences=3, said="c d 相关") == key_sentences({"c", "d"}, text, tokenize, 3)


HEADED = "a 开头句。\n#### 1. l2\nb 平方和句。es 顺带一提。\n#### 2. es\nc 监控验证集。d 下降时停止。"


def test_a_sub_heading_counts_half_a_term_for_the_sentences_under_it():
    """The notes name a method in a heading ("早停法") and explain it without repeating the name."""
    assert [tuple(s) for s in headed_sentences(HEADED)] == [
        ("a 开头句。", "", 0), ("b 平方和句。", "#### 1. l2", 1), ("es 顺带一提。", "#### 1. l2", 1),
        ("c 监控验证集。", "#### 2. es", 2), ("d 下降时停止。", "#### 2. es", 2)]
    assert headed_sentences("c 监控验证集。", "#### 2. es") == [("c 监控验证集。", "#### 2. es", 0)]  # starts under it
    assert key_sentences({"es"}, HEADED, tokenize, max_sentences=1) == ["es 顺带一提。"]  # its own term first
    assert key_sentences({"es"}, HEADED, tokenize, max_sentences=3) == ["es 顺带一提。", "c 监控验证集。", "d 下降时停止。"]
    assert key_sentences({"zzz"}, HEADED, tokenize) == []


def test_a_trimmed_source_shows_the_sub_heading_of_what_it_keeps():
    text = HEADED.replace("es 顺带一提。", "")
    kept = "a 开头句。\n#### 2. es\nc 监控验证集。"
    assert trim_source(text, {"es"}, tokenize, len(kept)) == kept  # the heading line counts toward the limit
    own = "a 开头句。\n#### 1. l2\nes 顺带一提。"
    assert trim_source(HEADED, {"es"}, tokenize, len(own)) == own  # its own term first
    repeated = HEADED + "\n#### 1. l2\ne 另一个平方和。\n#### 2. es\nf 又一个验证集。"  # the same headings again
    for text in (HEADED, repeated):
        for limit in range(5, len(text)):
            trimmed = trim_source(text, {"l2", "es"}, tokenize, limit)
            assert len(trimmed) <= limit and all(line in text for line in trimmed.splitlines())
    assert trim_source(repeated, {"es"}, tokenize, 80).count("#### 2. es") == 2  # each group shows its own heading
    starts_inside = "b 平方和句很长。c 监控验证集。d 另一句话。"
    assert trim_source(starts_inside, {"zzz"}, tokenize, 21, "#### 2. es") == "#### 2. es\nb 平方和句很长。"


def test_trim_source_keeps_the_opening_then_the_closest_sentences_in_order():
    text = "a 定义句。b 无关句。c d 相关句。e 也无关。"  # 6 + 6 + 8 + 6 characters
    assert trim_source(text, {"c", "d"}, tokenize, 0) == text  # no limit
    assert trim_source(text, {"c", "d"}, tokenize, len(text)) == text  # within it: untouched
    for limit, kept in ((15, "a 定义句。\nc d 相关句。"), (22, "a 定义句。\nb 无关句。\nc d 相关句。")):  # then the rest in order
        assert trim_source(text, {"c", "d"}, tokenize, limit) == kept and len(kept) == limit
    assert trim_source(text, {"c", "d"}, tokenize, 14) == "a 定义句。\nb 无关句。"  # line breaks count
    assert trim_source(text, {"zzz"}, tokenize, 13) == "a 定义句。\nb 无关句。"
    assert trim_source("```\ncode。\n```\na 句子。b 句子。", set(), tokenize, 8) == "a 句子。"  # code dropped
    matched = frozenset({"e 也无关。"})  # the passage retrieval matched comes first among equals
    assert trim_source(text, {"zzz"}, tokenize, 13, preferred=matched) == "a 定义句。\ne 也无关。"
    assert trim_source(text, {"c", "d"}, tokenize, 15, preferred=matched) == "a 定义句。\nc d 相关句。"  # terms first
    english = "L1 regularisation adds the absolute values of the weights, which drives many of them to zero."
    assert trim_source(english, {"l1"}, tokenize, 30) == english[:30]  # no sentence fits: the start


def test_lines_that_only_restate_source_headers_are_dropped():
    echo = "[1] 《数据类别不平衡怎么处理?》 [2] 《L范数的作用?》 [3] 《什么是PEFT技术?》"
    assert drop_source_headers(echo) == ""
    assert drop_source_headers(f"{echo}\n过采样少数类 [1]。\n《鞍点》[2]，") == "过采样少数类 [1]。"
    assert drop_source_headers(":\nReLU, LeakyReLU [1]") == "ReLU, LeakyReLU [1]"  # punctuation alone says nothing
    structure = "公式如下： [1]\n$$\nL = L_0\n$$\n| 方法 | 作用 |\n|---|---|\n[2]\n```python\n## 注释\n...\n```"
    assert drop_source_headers(structure) == structure  # formulas, tables, citations and code stay
    named = "根据《数据类别不平衡怎么处理?》[1]，可以过采样。"  # a title inside a sentence stays
    assert drop_source_headers(named) == named
    # a heading mark copied from the notes goes, the line stays; "# " may be a code comment
    assert drop_source_headers("梯度消失。 [1]\n### 而sigmoid的导数如下图所示: [1]\n# 初始化 dp [2]") == \
        "梯度消失。 [1]\n而sigmoid的导数如下图所示: [1]\n# 初始化 dp [2]"


def test_groundedness_share_of_answer_terms_in_sources():
    assert groundedness("a b [1]", {"a", "b", "c"}, tokenize) == 1.0
    assert groundedness("a x y z", {"a", "b", "c"}, tokenize) == 0.25
    assert groundedness("", {"a"}, tokenize) == 1.0


def test_cross_language_groundedness_checks_only_terms_the_corpus_uses():
    glossary = {"oversampling": ["过采样"], "weight decay": ["权重", "衰减"]}

    def words(text):
        return text.lower().replace(",", " ").replace(".", " ").split()

    def glossary_terms(text):
        return [(phrase, terms) for phrase, terms in glossary.items() if phrase in text.lower()]

    vocabulary = {"relu", "lstm", "过采样", "sigmoid", "权重", "衰减", "weight", "1"}
    sources = {"relu", "lstm", "过采样", "衰减", "1"}

    def score(answer):
        return cross_language_groundedness(answer, sources, vocabulary, words, glossary_terms)

    # "use", "and", "oversampling" cannot occur in Chinese notes: only corpus terms are checked
    assert score("Use ReLU and LSTM [1].") == 1.0
    assert score("Use oversampling, 1 time.") == 1.0  # a glossary phrase counts by its corpus terms
    assert score("Weight decay.") == 1.0  # one unit, found by one of its terms
    assert score("Use ReLU or sigmoid.") == 0.5
    assert score("Nothing here can be checked.") == 0.0


def test_compose_marks_quotes_with_their_source():
    assert compose("答 [1]。", [(1, "- 1. 数据增强。"), (2, "早停。")], "zh") == "答 [1]。\n\n资料原文要点：\n> 数据增强。 [1]\n> 早停。 [2]"
    assert compose("Answer.", [], "en") == "Answer."


def test_repeated_lines_of_a_looping_synthesis_are_dropped():
    looping = "损失函数的权重均衡。 [1]\n损失函数的权重均衡。 [1]\n对少数类过采样。 [2]\n损失函数的权重均衡。[1]"
    assert drop_repeated_lines(looping) == "损失函数的权重均衡。 [1]\n对少数类过采样。 [2]"
    kept = "Dropout 随机失活。 [1]\n\nL2 正则惩罚大权重。 [2]"  # distinct lines and blank lines stay
    assert drop_repeated_lines(kept) == kept


def test_a_line_copied_word_for_word_cites_the_source_that_holds_it():
    sources = ["L2是平方和。", "L1产生稀疏解。其他", "过采样。"]
    assert recite_copied_lines("L1产生稀疏解。 [1]", sources) == "L1产生稀疏解。 [2]"
    assert recite_copied_lines("**L1** 产生稀疏解 [1][3]，其他", sources) == "**L1** 产生稀疏解 [2]，其他"
    assert recite_copied_lines("3. 过采样。 [1]", ["L2是平方和。", "1. 过采样。"]) == "3. 过采样。 [2]"
    assert holders("过采样 [1]", ["过采样和欠采样", "l2", "先过采样"]) == [1, 3] and holders("[1]", ["x"]) == []
    kept = "L1产生稀疏解。 [2]\n没有出处的一行 [1]\n过采样。\nL2是平方和。 [1, 3]"  # cited right, in no source, uncited
    assert recite_copied_lines(kept, sources) == kept
    assert recite_copied_lines("过采样。 [1]", ["过采样。", "过采样。"]) == "过采样。 [1]"
    assert recite_copied_lines("过采样。 [2]", ["过采样。", "过采样。"]) == "过采样。 [2]"


def test_a_repeat_begun_on_the_last_line_is_dropped():
    """A reply stopped at a repeated line may end inside the next repeat ("…。 [" or mid-sentence):
    that line goes; a last line of its own stays, finished or not."""
    line = "从而用于预测时具有vote的效果。 [1]"
    first = "在训练过程中随机丢失神经元。 [1]"
    for tail in ("从而用于预测时具有vote的效果。 [", "从而用于预测时具有vote", "从而用于预测时具有vote的效果。 [1"):
        assert drop_repeated_lines(f"{first}\n{line}\n{line}\n{tail}") == f"{first}\n{line}"
    for tail in ("早停也能防止过拟合", "从而提高泛化能力。 ["):
        assert drop_repeated_lines(f"{first}\n{line}\n{tail}") == f"{first}\n{line}\n{tail}"
    assert drop_repeated_lines(line) == line


def test_synthesis_of_undoes_compose():
    quotes = [(1, "过采样。"), (2, "欠采样。")]
    for language in ("zh", "en"):
        assert synthesis_of(compose("A [1]\nB [2]", quotes, language)) == "A [1]\nB [2]"
        assert synthesis_of(compose("", quotes, language)) == ""
    assert synthesis_of("A [1]") == "A [1]"


CUT_AT_THE_LIMIT = [  # (reply, what is kept)
    ("过拟合是模型在测试集上差。 [1]\n增加训练数据。 [2]\n给模型的参数加上一定的正则约束，比如 [1",
     "过拟合是模型在测试集上差。 [1]\n增加训练数据。 [2]"),
    ("L1正则倾向于使部分参数变为零。 [1]\nL1正则化通常适用于特征数量较多但可能只有一部分特征",
     "L1正则倾向于使部分参数变为零。 [1]"),
    ("SGD很常用。 [1]\nAdam结合了两种算法的优点。 [1]\n", "SGD很常用。 [1]\nAdam结合了两种算法的优点。 [1]"),
    ("数据增强\n过采样\n损失加权", "数据增强\n过采样\n损失加权"),  # plain items: the style, not a cut
    ("Use L1. [1]\nIt gives sparse weights.", "Use L1. [1]\nIt gives sparse weights."),
    ("$L_1 = \\sum_i |w_i|$ [1]\n范数的公式：$\\|x\\|_p$", "$L_1 = \\sum_i |w_i|$ [1]\n范数的公式：$\\|x\\|_p$"),
    ("只有一行，没有写完", "只有一行，没有写完"),
    ("实例方法要包含self参数。 [1]\n例如： [1]", "实例方法要包含self参数。 [1]"),  # introduces what never came
    ("例如：", ""),
    ("方法如下：\n1. 过采样。 [1]", "方法如下：\n1. 过采样。 [1]"),
    # a line that introduces the next one is finished: the cut line after it goes, and then the
    # line introducing what never came
    ("梯度消失更明显。 [1]\n而sigmoid的导数如下图所示:\n不断相乘的话，最后的结果趋向于0，就会出现梯",
     "梯度消失更明显。 [1]"),
    # items of a list: an unfinished item, or a lead-in to the list, keeps the last item
    ("原因： [1]\n1. 梯度消失；\n2. 梯度爆炸。\n3. 学习率过大", "原因： [1]\n1. 梯度消失；\n2. 梯度爆炸。\n3. 学习率过大"),
    ("有两种：\n- 过采样 [1]\n- 欠采样", "有两种：\n- 过采样 [1]\n- 欠采样"),
    ("Common methods:\n- oversampling\n- undersampling [1]\n- class weights",
     "Common methods:\n- oversampling\n- undersampling [1]\n- class weights"),
    # a formula between $$ lines is finished
    ("L2正则化的公式如下： [1]\n$$\nL = L_0 + \\lambda w^2\n$$", "L2正则化的公式如下： [1]\n$$\nL = L_0 + \\lambda w^2\n$$"),
]


@pytest.mark.parametrize("reply, kept", CUT_AT_THE_LIMIT)
def test_a_last_line_cut_at_the_token_limit_is_dropped(reply, kept):
    assert drop_unfinished_line(reply) == kept


LISTS = """过拟合是……。
#### 解决过拟合的方法:
- 1. 重新清洗数据,数据不纯会导致过拟合。
- 2. **增加训练样本数量**。使用更多的训练数据。
3. 降低模型复杂程度。
优点：
1. 关键点提取与表示：
- 隐式关键点表示：用隐式关键点。
- 混合训练：图像和视频。
2. 运动变换与优化：
3. 拼接与重定向模块：
"""


def test_list_blocks_read_each_list_under_its_heading_with_its_own_items():
    from assistant.answer.quotes import ListBlock, list_blocks

    assert list_blocks(LISTS) == [
        ListBlock("解决过拟合的方法", ("重新清洗数据", "增加训练样本数量", "降低模型复杂程度")),
        ListBlock("优点", ("关键点提取与表示", "运动变换与优化", "拼接与重定向模块")),  # sub-items aside
    ]
    numbered = "深度学习中的正则化方法主要有以下几种:\n#### 一、L1 正则化\n文。\n#### 二、L2 正则化\n文。\n#### 三、Dropout\n文。"
    assert list_blocks(numbered) == [ListBlock("深度学习中的正则化方法主要有以下几种", ("L1 正则化", "L2 正则化", "Dropout"))]
    # numbered sub-headings at two levels: a list per level, under the heading above it
    levels = ("引言。\n### 一、成因\n文。\n### 二、核心方法\n#### 1. **时空建模**\n文。\n#### 2. 训练策略\n文。\n"
              "#### 3. 后处理\n文。\n### 三、应用\n#### 1. AIGC\n文。\n#### 2. 自动驾驶\n文。\n## 总结\n### 1. 甲\n")
    assert list_blocks(levels) == [ListBlock("核心方法", ("时空建模", "训练策略", "后处理")),
                                   ListBlock("", ("成因", "核心方法", "应用"))]  # two items are no list; 总结 ends both


def test_a_question_asking_for_ways_gets_the_matching_list_as_one_line():
    from assistant.answer.quotes import list_outline

    def terms(text):  # a tokenizer that knows four words
        return [w for w in ("过拟合", "方法", "优点", "规则") if w in text]

    asked = "解决过拟合有哪些方法？"
    assert list_outline(asked, set(terms(asked)), LISTS, terms) == "解决过拟合的方法：重新清洗数据；增加训练样本数量；降低模型复杂程度。"
    assert list_outline("什么是过拟合？", {"过拟合"}, LISTS, terms) == ""  # no list asked for
    assert list_outline("有哪些办法？", set(), LISTS, terms) == ""  # no list shares a term with it
    conditions = "规则：\n1. 如果维数不等，补1。\n2. 如果维数相同，比较。\n3. 如果都不满足，报错。"
    assert list_outline("有哪些规则？", {"规则"}, conditions, terms) == ""  # conditions cut from their outcomes say nothing


@pytest.mark.parametrize("line, repeats", [
    ("2. 过采样。 [1]", True),  # a part of a quote
    ("在时间复杂度为O(n)的情况下，求出左边第一个比它大的元素。 [1]", True),  # a copy with words dropped
    ("在时间复杂度为O(n)", True),  # the start of one: a streamed line waits
    ("单调栈可以在线性时间内解决这个问题。 [1]", False),
    ("过采样之后要在验证集上检查。 [1]", False),  # says more than the quote
    ("[1]", False),
])
def test_a_line_that_only_repeats_a_quote_is_found(line, repeats):
    quoted = [letters(q) for q in ("对少数类别做过采样,多数类别做欠采样。", "在时间复杂度为 O(n) 的情况下，求解出某个元素左边或者右边第一个比它大或者小的元素")]
    assert repeats_quotes(line, quoted) == repeats


def test_a_sentence_pointing_back_is_quoted_only_after_the_one_it_points_to():
    text = "L1正则化是一种惩罚。它在损失函数中加入了参数的绝对值之和作为惩罚项。L2正则化不同。它在损失函数中加入了平方和作为惩罚项。"
    picked = key_sentences({"损失函数", "惩罚项"}, text, tokenize_terms, 4, 300)
    assert picked == []  # both "它…" sentences lean on sentences sharing no term: neither is quoted alone
    picked = key_sentences({"损失函数", "惩罚项", "L1正则化"}, text, tokenize_terms, 4, 300)
    assert picked == ["L1正则化是一种惩罚。", "它在损失函数中加入了参数的绝对值之和作为惩罚项。"]
    reason = "SiLU是一种激活函数。这是因为它在损失函数中平滑。"  # "这是因为…" gives a reason: it reads on its own
    assert key_sentences({"损失函数"}, reason, tokenize_terms, 4, 300) == ["这是因为它在损失函数中平滑。"]


def tokenize_terms(text):
    return [term for term in ("损失函数", "惩罚项", "L1正则化", "L2正则化") if term in text]
