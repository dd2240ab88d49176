"""The contradiction checks on hand-made source/answer pairs, and answers that pass through them."""

import pytest

from assistant import AnswerConfig, StudyAssistant
from assistant.answer.checked_stream import CheckedStream
from assistant.answer.contradictions import ContradictionCheck
from assistant.answer.opposite_sources import OppositeSources, opposite_pair
from corpus import load_corpus
from fakes import ScriptedGenerator
from index import open_index

SOURCES = [
    "L1正则会使部分参数为0，产生稀疏解。L2正则使得整个训练过程稳定平滑,但是没有产生稀疏性。",
    "随机失活在训练阶段随机丢弃神经元，防止神经元之间的共适应性。学习率过大会导致震荡，一般设为0.001。",
]
QUESTION = "L1正则为什么容易产生稀疏解？"


@pytest.mark.parametrize("line, kind, said, noted", [
    ("L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]", "term", "l1", "l2"),  # the README's example
    ("L2正则化倾向于使部分参数变为零。 [1]", "term", "l2", "l1"),
    # stitched: a clause of the sentence on L2 joined to one on L1 (the sentence beside it names L1)
    ("L1正则会使部分参数为0，从而使得整个训练过程稳定平滑。 [1]", "term", "l1", "l2"),
    ("L2正则使得整个训练过程稳定平滑,产生稀疏性。 [1]", "negation", "", "没有"),  # copied without its negation
    ("L1正则会使部分参数为0，不会产生稀疏解。 [1]", "negation", "不会", ""),
    ("一般设为0.01。 [2]", "number", "0.01", "0.001"),
    ("在推理阶段随机丢弃神经元。 [2]", "term", "推理", "训练"),
    ("学习率过小会导致震荡。 [2]", "term", "小", "大"),
])
def test_a_changed_copy_of_a_source_clause_is_caught(line, kind, said, noted):
    conflict = ContradictionCheck(SOURCES, QUESTION).line(line)
    assert (conflict.kind, conflict.said, conflict.noted) == (kind, said, noted)
    assert conflict.line == line and conflict.describe()


@pytest.mark.parametrize("line", [
    "L1正则会使部分参数为0，产生稀疏解。 [1]",  # copied as it is
    "L1正则会让一部分参数变成0，从而得到稀疏解。 [1]",  # paraphrased, same claim
    "L2正则使得整个训练过程稳定平滑。 [1]",  # part of a sentence, nothing dropped before it
    "随机失活能防止过拟合。 [2]",  # copies nothing closely: not this check's to judge
    "学习率过大会导致震荡，一般设为0.001。 [2]",
    "Dropout drops neurons at random during training. [2]",  # another language
])
def test_a_faithful_or_unrelated_line_passes(line):
    assert ContradictionCheck(SOURCES, QUESTION).line(line) is None


ALLOCATION = ("`new`和`delete`是C++中用于动态内存分配和释放的运算符。`new`运算符在堆上分配内存并调用构造函数。\n\n"
              "`malloc`和`free`是C语言中用于动态内存分配和释放的函数。它们不具有类型安全性。")


@pytest.mark.parametrize("line, said, noted", [
    # the sentence on new/delete under the other pair's names: two names swapped are one change, not
    # two that cancel; nearest letter by letter to the malloc sentence, which it does not contradict
    ("malloc和free是C++中用于动态内存分配和释放的运算符。 [1]", "malloc", "new"),
    ("new和delete是C语言中用于动态内存分配和释放的函数。 [1]", "new", "malloc"),
    ("所以free和malloc是C++中用于动态内存分配和释放的运算符。", "free", "new"),
])
def test_a_sentence_copied_under_other_names_is_caught(line, said, noted):
    conflict = ContradictionCheck([ALLOCATION], "C++的new/delete和C语言的malloc/free有什么区别？").line(line)
    assert (conflict.kind, conflict.said, conflict.noted) == ("term", said, noted)


@pytest.mark.parametrize("line", [
    "new和delete是C++中用于动态内存分配和释放的运算符。 [1]",
    "malloc和free是C语言中用于动态内存分配和释放的函数。 [1]",
    "malloc和free是C语言中的函数，new和delete是C++中的运算符。 [1]",
    "new运算符在堆上分配内存并调用构造函数。 [1]",
])
def test_a_sentence_under_its_own_names_passes(line):
    assert ContradictionCheck([ALLOCATION], "C++的new/delete和C语言的malloc/free有什么区别？").line(line) is None


CONNECTORS = ["常见连接方式有Q-Former，Attention，Linear Layer/ MLP结构。以BLIP-2为代表的Q-Former结构增加了多个目标函数。",
              "主流模型：\n- Transformer-XL：在Transformer中引入相对位置编码和片段级记忆机制。\n- XLNet：结合自回归和自编码思想。"]


@pytest.mark.parametrize("line, named", [
    ("BLIP-2引入了Transformer-XL，这是目前大模型的结构。 [1]", "blip2"),  # a short clause "copied" with a claim put before it
    ("BERT结合自回归和自编码思想。 [2]", "bert"),  # another subject, one the notes never name, in place of XLNet
])
def test_a_copy_that_names_what_nothing_near_its_source_names_is_its_own_words(line, named):
    check = ContradictionCheck(CONNECTORS, "多模态大模型的模态接口有哪几种？", copies_only=True)
    text, conflict = check.cut(line)
    assert text == "" and (conflict.kind, conflict.said) == ("unsupported", named)
    assert ContradictionCheck(CONNECTORS, "多模态大模型的模态接口有哪几种？").line(line) is None  # the free synthesis keeps it


@pytest.mark.parametrize("line", [
    "注意力机制（Attention）让模型关注重要的部分。 [1]",  # a gloss in brackets
    "大语言模型（LLM）通过预训练学习语言知识。 [1]",
    "Zero样本指令：如Describe the image触发分步推理。 [1]",  # a name for Chinese words: a translation
    "LoRA通过低秩分解减少参数。 [1]",  # the pronoun resolved to what the question names
    "MCoT通过分步推理解决多模态问题。 [2]",  # named by its section's title alone
])
def test_a_gloss_a_translation_or_a_resolved_pronoun_is_no_new_name(line):
    notes = ["注意力机制让模型关注重要的部分。大语言模型通过预训练学习语言知识。零样本指令：如Describe the image触发分步推理。"
             "它通过低秩分解减少参数。", "它通过分步推理解决多模态问题。"]
    check = ContradictionCheck(notes, "LoRA怎么微调？", copies_only=True, titles=["基础知识", "MCoT是什么？"])
    assert check.cut(line) == (line, None)


def test_a_pronoun_resolved_to_a_name_nothing_gives_is_a_new_name():
    check = ContradictionCheck(["它通过低秩分解减少参数。"], "怎么微调大模型？", copies_only=True)
    assert check.cut("BERT通过低秩分解减少参数。 [1]")[1].said == "bert"


def test_a_clause_with_little_besides_a_name_is_not_read_against_another_with_names_aside():
    notes = ["例如BERT，使用掩码语言模型。LoRA冻结预训练权重。", "LoRA freezes the pretrained weights."]
    assert ContradictionCheck(notes, "LoRA怎么微调？").line("例如LoRA，只训练低秩矩阵。") is None
    assert ContradictionCheck(notes, "How does checkpointing work?").line("How does checkpointing work? [1]") is None


def test_a_name_given_by_another_source_may_stand_for_the_copied_clauses_name():
    notes = ["它的3D VAE将视频数据的每一帧编码为视频潜在向量。", "CogVideoX的3D Causal VAE能在时间和空间维度上压缩视频。"]
    line = "3D Causal VAE将视频数据的每一帧编码为视频潜在向量。 [1]"
    assert ContradictionCheck(notes, "CogVideoX怎么压缩视频？", copies_only=True).cut(line) == (line, None)


def test_a_name_its_source_gives_elsewhere_may_be_put_in_a_copy():
    line = "3D Causal VAE将视频数据的每一帧编码为视频潜在向量。 [1]"
    named = ContradictionCheck(["CogVideoX用3D Causal VAE压缩视频。\n\n它的3D VAE将视频数据的每一帧编码为视频潜在向量。"],
                               "CogVideoX怎么压缩视频？", copies_only=True)
    assert named.cut(line) == (line, None)
    unnamed = ContradictionCheck(["CogVideoX压缩视频。\n\n它的3D VAE将视频数据的每一帧编码为视频潜在向量。"],
                                 "CogVideoX怎么压缩视频？", copies_only=True)
    assert unnamed.cut(line)[1].said == "3dcausalvae"


@pytest.mark.parametrize("line, question", [
    ("Transformer-XL在Transformer中引入相对位置编码和片段级记忆机制。 [2]", "长序列怎么处理？"),
    ("以BLIP-2为代表的Q-Former结构增加了多个目标函数。 [1]", "模态接口有哪几种？"),
    ("它结合自回归和自编码思想。 [2]", "XLNet是什么？"),
    ("XLNet模型结合自回归和自编码思想。 [2]", "它是什么？"),  # named by its own sentence
    ("BERT结合自回归和自编码思想。 [2]", "BERT和XLNet有什么不同？"),  # named by the question: the swap checks judge it
])
def test_a_copy_naming_what_its_place_or_the_question_names_stays(line, question):
    assert ContradictionCheck(CONNECTORS, question, copies_only=True).cut(line) == (line, None)


@pytest.mark.parametrize("line, kept", [
    ("L1正则会使部分参数为0，产生稀疏解。 [1]", "L1正则会使部分参数为0，产生稀疏解。 [1]"),  # copied
    ("L1正则会使部分参数为0，从而模型更好解释。 [1]", "L1正则会使部分参数为0。 [1]"),  # cut at its own words
    ("原因如下：", "原因如下："),  # too short to compare: a heading stays
    ("随机失活能防止过拟合。 [2]", ""),  # its own words from the start
    ("Dropout drops neurons at random during training. [2]", ""),  # another language: its own words
])
def test_a_copies_only_check_keeps_the_copied_clauses_alone(line, kept):
    check = ContradictionCheck(SOURCES, QUESTION, copies_only=True)
    text, conflict = check.cut(line)
    assert text == kept
    assert (conflict is None) == (kept == line)
    if conflict:
        assert conflict.kind == "unsupported" and not conflict.contradicts and "own words" in conflict.describe()
    swapped = check.line("L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]")
    assert swapped.kind == "term" and swapped.contradicts  # a changed copy is still a contradiction


def test_a_copies_only_stream_shows_the_copied_clauses_and_mutes_the_rest_of_the_line():
    stream = CheckedStream(ContradictionCheck(SOURCES, QUESTION, copies_only=True))
    shown = [stream.feed(piece) for piece in ["L1正则会使部分参数为0，", "从而模型更好解释。 [1]\n", "学习率过大会导致震荡。 [2]"]]
    assert "".join(shown) + stream.close() == "L1正则会使部分参数为0， [1]\n学习率过大会导致震荡。 [2]"


LABELLED = ["过拟合: 模型在训练集上拟合的很好,但是模型连噪声数据的特征都学习了,丧失了对测试集的泛化能力。\n"
            "欠拟合:模型在训练集和测试集上效果均不好,其根本原因是模型没有学习好数据集的特征。"]


@pytest.mark.parametrize("line, caught", [
    ("欠拟合: 模型在训练集上拟合的很好,但是模型连噪声数据的特征都学习了。 [1]", True),  # overfitting's definition, relabelled
    ("2. **欠拟合**：模型在训练集上拟合的很好。 [1]", True),  # a list item, in bold
    ("过拟合: 模型在训练集上拟合的很好。 [1]", False),  # under its own label
    ("欠拟合:模型在训练集和测试集上效果均不好。 [1]", False),
    ("原因如下：模型在训练集上拟合的很好。 [1]", False),  # a label of the model's own words
    ("模型在训练集上拟合的很好,但是模型连噪声数据的特征都学习了。 [1]", False),  # no label
])
def test_a_copied_clause_under_a_label_the_notes_give_to_another_passage_is_cut(line, caught):
    check = ContradictionCheck(LABELLED, "什么是欠拟合？")
    kept, conflict = check.cut(line)
    assert (conflict is not None) == caught and kept == ("" if caught else line)
    if caught:
        assert (conflict.kind, conflict.said, conflict.noted) == ("label", "欠拟合", "过拟合") and conflict.contradicts


def test_the_stream_holds_a_label_until_the_clause_it_is_put_on_has_passed():
    stream = CheckedStream(ContradictionCheck(LABELLED, "什么是欠拟合？"))
    shown = [stream.feed(piece) for piece in ["欠拟合:", " 模型在训练集上拟合的很好,", "但是模型连噪声数据的特征都学习了。 [1]\n",
                                              "欠拟合:", "模型在训练集和测试集上效果均不好。 [1]"]]
    assert shown[:3] == ["", "", ""]  # the wrong label never shows
    assert "".join(shown) + stream.close() == "欠拟合:模型在训练集和测试集上效果均不好。 [1]"


def test_a_phrase_dropped_whole_with_its_negation_is_no_flip():
    # the notes on underfitting; a line on overfitting shares most of the clause but drops "效果均不好"
    check = ContradictionCheck(["欠拟合:模型在训练集和测试集上效果均不好,其根本原因是模型没有学习好数据集的特征。"],
                               "什么是过拟合？")
    assert check.line("过拟合是模型在训练集上好、测试集上差 [1]。") is None
    assert check.line("欠拟合是模型在训练集和测试集上效果均好 [1]。").kind == "negation"


def test_a_line_is_cut_at_its_first_contradicting_clause_and_keeps_its_citation():
    check = ContradictionCheck(SOURCES, QUESTION)
    kept, conflict = check.cut("学习率过大会导致震荡，一般设为0.01。 [2]")
    assert kept == "学习率过大会导致震荡。 [2]" and conflict.kind == "number"
    assert check.cut("L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]")[0] == ""
    text, conflicts = check.reply("L1正则会使部分参数为0，产生稀疏解。 [1]\nL1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]")
    assert text == "L1正则会使部分参数为0，产生稀疏解。 [1]" and [c.kind for c in conflicts] == ["term"]


def test_the_stream_shows_a_clause_only_once_it_has_passed():
    stream = CheckedStream(ContradictionCheck(SOURCES, QUESTION))
    reply = "L1正则会使部分参数为0，产生稀疏解。 [1]\nL1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]\n学习率过大会导致震荡，一般设为0.01。 [2]"
    shown = []
    for i in range(0, len(reply), 3):
        shown.append(stream.feed(reply[i:i + 3]))
        assert "L1正则使得" not in "".join(shown)  # the contradicting line never appears, not even in part
    shown.append(stream.close())
    assert "".join(shown) == "L1正则会使部分参数为0，产生稀疏解。 [1]\n学习率过大会导致震荡， [2]"


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)


def test_an_answer_whose_draft_contradicts_its_source_withholds_that_line(index):
    draft = "L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]\nL1正则会产生稀疏解。 [1]"
    assistant = StudyAssistant(index, ScriptedGenerator(draft), AnswerConfig(k=3, quote_sentences=0, min_grounding=0))
    items = list(assistant.stream("L1正则为什么容易产生稀疏解？"))
    answer = items[-1]
    assert "没有产生稀疏性" not in "".join(items[:-1]) and "没有产生稀疏性" not in answer.text
    assert answer.withheld and answer.withheld[0]["kind"] == "term" and answer.withheld[0]["said"] == "l1"
    assert answer.draft == draft and not answer.refused


def test_an_answer_whose_every_line_contradicts_falls_back_to_the_quotes(index):
    draft = "L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]"
    answer = StudyAssistant(index, ScriptedGenerator(draft), AnswerConfig(k=3)).ask("L1正则为什么容易产生稀疏解？")
    assert "没有产生稀疏性" not in answer.text.split("资料原文要点")[0]
    assert not answer.refused and "资料原文要点" in answer.text and len(answer.withheld) == 1


OVERFIT = "什么是过拟合,解决过拟合的方法有哪些?"
UNDERFIT = "什么是欠拟合,解决欠拟合的方法有哪些?"
PAIRED_SOURCES = [  # the notes on regularisation, on underfitting and on overfitting, in retrieval order
    "正则化的目的是用来防止过拟合的。常用的正则化手段有L1、L2正则。",
    "欠拟合:模型在训练集和测试集上效果均不好。解决欠拟合的方法:可以增加模型复杂度;减小正则化系数;Boosting。",
    "过拟合:模型在训练集上拟合的很好,但丧失了对测试集的泛化能力。解决过拟合的方法:增加训练样本数量;降低模型复杂程度。",
]


def test_sources_that_ask_the_same_question_of_opposite_things_form_a_pair():
    assert opposite_pair(["正则化的作用?", OVERFIT, UNDERFIT]) == (1, 2, "过拟合", "欠拟合")
    assert opposite_pair([UNDERFIT, "L1正则的作用?", OVERFIT]) == (0, 2, "欠拟合", "过拟合")
    assert opposite_pair([OVERFIT, "什么是欠拟合?"]) is None  # not the same question
    assert opposite_pair(["有哪些常见的分布式训练方式？", "有哪些常见的分布式推理方式？"]) == (0, 1, "训练", "推理")


@pytest.mark.parametrize("question, top, side", [
    ("过拟合了怎么办？", False, 2),  # the question names one side
    ("训练集上都学不好怎么办？", True, 0),  # the top source is one side
    ("训练集99%，验证集70%，怎么救？", False, None),  # neither: the reply's first copy decides
])
def test_the_side_an_answer_is_about(question, top, side):
    titles = [UNDERFIT, "正则化的作用?", OVERFIT] if top else ["正则化的作用?", UNDERFIT, OVERFIT]
    assert OppositeSources(titles, question).side == side


def test_a_question_on_both_sides_checks_nothing():
    pair = OppositeSources(["正则化的作用?", UNDERFIT, OVERFIT], "过拟合和欠拟合有什么区别？")
    assert pair.sides is None and pair.wrong({1}) is None and pair.wrong({2}) is None


def test_a_remedy_copied_from_the_notes_on_the_opposite_problem_is_cut():
    question = "模型在训练集上准确率99%，验证集上才70%，这是怎么回事，该怎么救？"
    pair = OppositeSources(["正则化的作用?", UNDERFIT, OVERFIT], question)
    check = ContradictionCheck(PAIRED_SOURCES, question, copies_only=True, opposite=pair)
    reply = ("过拟合:模型在训练集上拟合的很好,但丧失了对测试集的泛化能力。 [3]\n"  # overfitting: the side
             "可以增加模型复杂度。 [2]\n增加训练样本数量。 [3]\n正则化的目的是用来防止过拟合的。 [1]")
    kept, conflicts = check.reply(reply)
    assert kept.splitlines() == [reply.splitlines()[0], "增加训练样本数量。 [3]", "正则化的目的是用来防止过拟合的。 [1]"]
    (conflict,) = conflicts
    assert (conflict.kind, conflict.said, conflict.noted) == ("opposite", "过拟合", "欠拟合") and conflict.contradicts
    assert "欠拟合" in conflict.describe()


def test_a_line_holding_a_remedy_for_the_opposite_problem_inside_its_own_words_is_cut():
    question = "训练集上都学不好，又该怎么办？"
    pair = OppositeSources([UNDERFIT, "正则化的作用?", OVERFIT], question)  # the top source: underfitting
    check = ContradictionCheck([PAIRED_SOURCES[1], PAIRED_SOURCES[0], PAIRED_SOURCES[2]], question, opposite=pair)
    assert check.line("增加训练样本数量可以提高模型的泛化能力。 [1]").kind == "opposite"
    assert check.line("可以增加模型复杂度,让模型学到更多特征。 [1]") is None


def test_without_the_pair_the_same_reply_passes():
    reply = "可以增加模型复杂度。 [2]\n增加训练样本数量。 [3]"
    assert ContradictionCheck(PAIRED_SOURCES, "怎么救？", copies_only=True).reply(reply) == (reply, [])


def test_an_answer_on_underfitting_withholds_the_remedy_for_overfitting(index):
    question = "什么是欠拟合,解决欠拟合的方法有哪些?"
    draft = "可以增加模型复杂度。 [1]\n增加训练样本数量。 [1]"
    assistant = StudyAssistant(index, ScriptedGenerator(draft), AnswerConfig(k=3, quote_sentences=0, min_grounding=0))
    items = list(assistant.stream(question))
    answer = items[-1]
    titles = [hit.chunk.title for hit in answer.sources]
    assert titles[0].startswith(UNDERFIT[:-1]) and any(t.startswith(OVERFIT[:-1]) for t in titles)
    assert "增加模型复杂度" in answer.text and "增加训练样本数量" not in answer.text
    assert "增加训练样本数量" not in "".join(items[:-1])  # never streamed either
    assert [w["kind"] for w in answer.withheld] == ["opposite"]


FORMULA_SOURCES = ["我们首先可以使用L2正则进行优化,新的目标函数:  $L+CW^2$  ,示意图如下蓝线所示。"
                   "接下来我们使用L1正则,新的目标函数: L+C|w| , 示意图如下粉线所示。"]


@pytest.mark.parametrize("line, kept", [
    # L1's formula stitched after L2's clause: cut with the clause introducing it, the condition
    # left alone says nothing
    ("在使用 L2 正则进行优化时,新的目标函数: L+C|w| [1]", ""),
    ("L2正则让权重平滑地变小,新的目标函数: L+C|w| [1]", "L2正则让权重平滑地变小。 [1]"),
    ("使用L1正则,新的目标函数: L+C|w| [1]", None),
    ("使用L2正则,新的目标函数: $L+CW^2$ [1]", None),
    ("新的目标函数: L+C|w| [1]", ""),  # a line naming no term is read as about the question's (L2)
])
def test_a_formula_is_checked_against_the_term_its_sentence_is_about(line, kept):
    check = ContradictionCheck(FORMULA_SOURCES, "那L2正则呢？为什么它不会这样？")
    text, conflict = check.cut(line)
    if kept is None:
        assert (text, conflict) == (line, None)
    else:
        assert text == kept and (conflict.kind, conflict.said, conflict.noted) == ("term", "l2", "l1")


def test_a_loose_paraphrase_nearest_to_the_other_sides_wording_is_not_cut():
    pair = OppositeSources(["正则化的作用?", OVERFIT, UNDERFIT], "什么是过拟合？")
    check = ContradictionCheck([PAIRED_SOURCES[0], PAIRED_SOURCES[2], PAIRED_SOURCES[1]], "什么是过拟合？", opposite=pair)
    assert check.line("过拟合是模型在训练集上好、测试集上差 [1]。") is None
    assert check.line("减少正则化系数。 [3]").kind == "opposite"  # a close copy of "减小正则化系数" is


MOBILENET = ("MobileNetV2在MobileNetV1的基础上引入了Linear Bottleneck 和 Inverted Residuals。\n\n"
             "MobileNetV2的论文：《MobileNetV2: Inverted Residuals and Linear Bottlenecks》\n\n"
             "MobileNetV3在整体上有两大创新：\n\n"
             "1.互补搜索技术组合：由资源受限的NAS执行模块级搜索。\n\n"
             "2.网络结构改进：进一步减少网络层数，并引入h-swish激活函数。\n\n"
             "作者发现swish激活函数能够有效提高网络的精度。")


@pytest.mark.parametrize("question, kept, said", [
    ("那V2在这个基础上又改了什么？", "Linear Bottleneck", "mobilenetv2"),  # "V2": the notes write MobileNetV2 in full
    ("MobileNetV2做了哪些改进？", "Linear Bottleneck", "mobilenetv2"),
    ("MobileNetV3有哪些创新？", "h-swish", "mobilenetv3"),  # the notes give the bottleneck to V2
    ("MobileNetV2和V3有什么区别？", "Linear Bottleneck|h-swish", ""),  # a question on both names either
    ("MobileNet系列的特点？", "Linear Bottleneck|h-swish", ""),  # and one that names neither
])
def test_a_list_item_is_about_what_its_lead_in_names(question, kept, said):
    check = ContradictionCheck([MOBILENET], question)
    text, conflicts = check.reply("使用Linear Bottleneck和Inverted Residuals。 [1]\n使用h-swish激活函数。 [1]")
    assert [name for name in ("Linear Bottleneck", "h-swish") if name in text] == kept.split("|")
    assert [c.said for c in conflicts] == ([said] if said else [])


def test_a_list_ends_where_a_sentence_that_is_no_item_follows_it():
    notes = "MobileNetV3在整体上有两大创新：\n1. 引入h-swish激活函数。\n这些改进都使用了深度可分离卷积来减少参数量。"
    check = ContradictionCheck([notes], "MobileNetV2用了什么卷积？")
    assert check.reply("使用了深度可分离卷积来减少参数量。 [1]")[1] == []


def test_a_name_joined_to_the_words_after_it_is_still_read_as_a_name():
    check = ContradictionCheck([MOBILENET], "MobileNetV3有哪些创新？")
    line = "论文：《MobileNetV2: Inverted Residuals and Linear Bottlenecks》 [1]"
    assert check.reply(line) == (line, [])  # the line names MobileNetV2 itself: nothing is said of V3


CONTROL = ("controlnet 和 T2I-Adapter 采用了不同的方式来编码条件。在 controlnet 中，作者是直接将 sd-encoder 复制了一份，"
           "当作可训练模块。而在 T2I-Adapter 中，作者是使用了 Pixel-Unshuffle 的操作来完成该功能。")
ARCFACE = "作者在CosFace Loss上做了一处改进，将margin从余弦空间转换到角度空间。ArcFace和CosFace都在角度上加间隔。"


@pytest.mark.parametrize("notes, line, kept, said", [
    # ControlNet's encoder put under T2I-Adapter, which the notes compare with it: the place goes with it
    ([CONTROL], "在T2I-Adapter中，作者是直接将sd-encoder复制了一份，当作可训练模块。 [1]", "", "t2iadapter"),
    ([CONTROL], "两者编码条件的方式不同。在T2I-Adapter中，作者是直接将sd-encoder复制了一份。 [1]", "两者编码条件的方式不同。 [1]",
     "t2iadapter"),
    ([CONTROL], "在 controlnet 中，作者是直接将 sd-encoder 复制了一份。 [1]", None, ""),  # where the notes put it
    ([CONTROL], "作者是直接将 sd-encoder 复制了一份，当作可训练模块。 [1]", None, ""),  # under no name
    ([CONTROL], "在SDXL中，作者是直接将 sd-encoder 复制了一份。 [1]", None, ""),  # a name the notes do not compare
    # the clause stands under no place in the notes ("作者在CosFace Loss上做了一处改进" says what it improved on)
    ([ARCFACE], "在ArcFace中，将margin从余弦空间转换到角度空间。 [1]", None, ""),
    # a place holds within its sentence only
    ([CONTROL], "在T2I-Adapter中，作者是使用了Pixel-Unshuffle的操作。ControlNet则不同，作者是直接将sd-encoder复制了一份。 [1]",
     None, ""),
    # the second copy of a clause is read where it stands, under its own place
    ([CONTROL], "在controlnet中，作者是直接将sd-encoder复制了一份，当作可训练模块，在T2I-Adapter中，作者是直接将sd-encoder复制了一份。 [1]",
     "在controlnet中，作者是直接将sd-encoder复制了一份，当作可训练模块。 [1]", "t2iadapter"),
    ([CONTROL], "两者编码条件的方式不同。对T2I-Adapter而言，作者是直接将sd-encoder复制了一份。 [1]", "两者编码条件的方式不同。 [1]",
     "t2iadapter"),
])
def test_a_clause_the_notes_say_of_one_name_put_under_another_they_compare_it_with_is_cut(notes, line, kept, said):
    check = ContradictionCheck(notes, "ControlNet和T2I-Adapter怎么注入条件？")
    text, conflict = check.cut(line)
    assert text == (line if kept is None else kept)
    if said:
        assert (conflict.kind, conflict.said, conflict.noted) == ("term", said, "controlnet")
    else:
        assert conflict is None


@pytest.mark.parametrize("line, kept", [
    # what a cut leaves ending in a place or a condition goes with it
    ("L1正则让权重稀疏，在L2正则下，L1正则会产生稀疏解。 [1]", "L1正则让权重稀疏。 [1]"),
    ("L1正则让权重稀疏，如果数据很少的话，L1正则会产生稀疏解。 [1]", "L1正则让权重稀疏。 [1]"),
    # a clause that only starts like a condition says something: it stays, and so does a bare name
    ("L1正则让权重稀疏，当作特征选择，L1正则会产生稀疏解。 [1]", "L1正则让权重稀疏，当作特征选择。 [1]"),
    ("L1正则让权重稀疏，常见的有Lasso，L1正则会产生稀疏解。 [1]", "L1正则让权重稀疏，常见的有Lasso。 [1]"),
    ("常用于稀疏模型的有Ridge，Lasso，L1正则会产生稀疏解。 [1]", "常用于稀疏模型的有Ridge，Lasso。 [1]"),
])
def test_a_place_or_condition_left_dangling_by_a_cut_goes_with_it(line, kept):
    check = ContradictionCheck(["L1正则让权重稀疏，L1正则不会产生稀疏解。"], "L1正则有什么作用？")
    assert check.cut(line)[0] == kept


KMEANS_KNN = ["K-means的主要算法步骤：\n1. 选择初始化的 $k$ 个样本作为初始聚类中心。\n"
              "2. 针对每个类别 $D_{j}$ ，重新计算它的聚类中心 $D_{j} = \\frac{1}{|c_{j}|}\\sum_{x\\in c_{j}}x$ 。",
              "KNN的核心思想：使用多数投票原则，预测 $x_j$ 的标签。\n两者都需要计算样本之间的距离。"]


@pytest.mark.parametrize("line, said", [
    ("它们都重新计算它的聚类中心 $D_{j} = \\frac{1}{|c_{j}|}\\sum_{x\\in c_{j}}x$ 。 [1]", "它们都"),
    ("两者均使用多数投票原则，预测 $x_j$ 的标签。 [2]", "两者均"),
    ("这两种算法也都选择初始化的 $k$ 个样本作为初始聚类中心。 [1]", "这两种算法也都"),
])
def test_a_clause_the_notes_say_of_one_thing_said_of_both_is_cut(line, said):
    """"它们都…" before a clause copied from the notes on K-means alone makes it a claim about
    KNN too, which the notes do not make; the check cuts it like a swapped term."""
    conflict = ContradictionCheck(KMEANS_KNN, "K-means和KNN的算法流程有什么区别？").line(line)
    assert conflict and conflict.kind == "both" and conflict.said == said and conflict.contradicts
    assert said in conflict.describe()


@pytest.mark.parametrize("line", [
    "使用多数投票原则，预测 $x_j$ 的标签。 [2]",  # copied as the notes say it, of KNN
    "两者都需要计算样本之间的距离。 [2]",  # the notes say it of both themselves
    "它们都是很常用的算法。",  # in its own words: not a copy, so not this check's to judge
])
def test_a_clause_the_notes_say_of_both_or_copied_plainly_passes(line):
    assert ContradictionCheck(KMEANS_KNN, "K-means和KNN的区别？").line(line) is None


@pytest.mark.parametrize("notes, question, line", [
    ("GAN和VAE在训练过程面临挑战，需要仔细调参。", "GAN和VAE有什么区别？", "它们都在训练过程面临挑战，需要仔细调参。 [1]"),
    ("LoRA和Ptuning通过其独特的微调策略，为大型模型的微调提供了新的解决方案。", "LoRA和P-tuning的区别？",
     "它们都为大型模型的微调提供了新的解决方案。 [1]"),  # the sentence names both
    ("K-means的步骤：重新计算它的聚类中心。", "K-means的步骤是什么？", "它们都重新计算它的聚类中心。 [1]"),  # nothing compared
    ("K-means：需要计算样本之间的距离。\nKNN：需要计算样本之间的距离。", "K-means和KNN的区别？",
     "它们都需要计算样本之间的距离。 [1]"),  # said of each, one sentence apiece
])
def test_both_is_not_cut_where_the_notes_say_it_of_both_or_compare_nothing(notes, question, line):
    assert ContradictionCheck([notes], question).line(line) is None
