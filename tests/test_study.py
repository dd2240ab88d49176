"""StudyAssistant pipeline with a deterministic fake generator (no model)."""

from dataclasses import replace

import pytest

from assistant.prompts import refusal_text
from assistant import Answer, AnswerConfig, StudyAssistant
from corpus import load_corpus
from index import open_index
from fakes import ScriptedGenerator


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)


def test_answer_maps_citations_to_sections_and_drops_unknown_ones(index):
    generator = ScriptedGenerator("逐元素相乘 [1]，用于门控 [1][7]。")
    answer = StudyAssistant(index, generator, AnswerConfig(k=3, quote_sentences=0, synthesis="free")).ask("哈达玛积是什么？")
    assert answer.sources[0].chunk.number == "12"
    assert answer.citations == [{"n": 1, "ref": "ml_basics_qa#12", "doc": "ml_basics_qa", "section": "12",
                                 "title": answer.sources[0].chunk.title}]
    assert answer.text == "逐元素相乘 [1]，用于门控 [1]。" and answer.dropped_citations == 1
    assert not answer.refused
    assert set(answer.timings) == {"retrieve", "model_first_token", "first_token", "total"}
    assert "[1] 《什么是哈达玛积" in generator.calls[0][-1]["content"]


def test_stream_yields_the_synthesis_then_quoted_key_sentences(index):
    assistant = StudyAssistant(index, ScriptedGenerator("鞍点是梯度为零的点 [1]。"), AnswerConfig(k=2, synthesis="free", notes_first=False))
    items = list(assistant.stream("什么是鞍点？"))
    answer = items[-1]
    assert isinstance(answer, Answer) and "".join(items[:-1]) == answer.text
    synthesis, quotes = answer.text.split("\n\n资料原文要点：\n")
    assert synthesis == "鞍点是梯度为零的点 [1]。"
    lines = quotes.split("\n")
    assert 1 <= len(lines) <= AnswerConfig().quote_sentences and all(line.startswith("> ") and line.endswith("[1]") for line in lines)
    section = index.sections["ml_basics_qa#13"].text
    assert all(line[2:-4] in section for line in lines)  # verbatim from the cited section
    assert sum(len(line) - 6 for line in lines) <= AnswerConfig().quote_chars
    assert [c["ref"] for c in answer.citations] == ["ml_basics_qa#13"]


def test_quotes_skip_sentences_the_synthesis_already_copied(index):
    same = AnswerConfig(k=2, alone_quote_sentences=4, alone_quote_chars=300, notes_first=False)  # alone or not, the same limits
    quoted = StudyAssistant(index, ScriptedGenerator("见资料 [1]。"), same).ask("什么是鞍点？")
    first = quoted.text.split("资料原文要点：\n> ")[1].split(" [1]")[0]  # the first key sentence
    copied = StudyAssistant(index, ScriptedGenerator(f"{first} [1]"), same).ask("什么是鞍点？")
    synthesis, quotes = copied.text.split("\n\n资料原文要点：\n")
    assert synthesis == f"{first} [1]" and first not in quotes
    before = quoted.text.split("资料原文要点：\n")[1].split("\n")
    assert set(quotes.split("\n")) - set(before)  # the next key sentence instead


def test_a_line_copied_from_another_source_cites_that_source(index):
    """The model cites [1] for a sentence it copied from source [2]: the answer cites [2], the
    quotes still come from the top source first, and the final answer revises the stream."""
    from assistant.answer.sources import prompt_sources

    question = "L1正则为什么容易产生稀疏解？"
    config = AnswerConfig(k=3, refuse_unknown_names=False, notes_first=False)
    hits = index.search(question, k=3)
    sources = [text for _, text in prompt_sources(index, question, hits, config.source_chars, config.source_scope)]
    copied = next(line for line in sources[1].splitlines() if len(line) > 10 and line not in sources[0]
                  and not line.startswith("#") and not line.rstrip().endswith((":", "：")))
    *pieces, answer = StudyAssistant(index, ScriptedGenerator(f"{copied} [1]"), config).stream(question)
    synthesis = answer.text.split("\n\n资料原文要点：\n")[0]
    assert synthesis == f"{copied} [2]" and "".join(pieces).startswith(f"{copied} [1]")
    assert [c["n"] for c in answer.citations][:2] == [2, 1]
    assert "[1]" in answer.text.split("资料原文要点：")[1]  # quotes of the top source
    kept = StudyAssistant(index, ScriptedGenerator(f"{copied} [2]"), config).ask(question)
    assert kept.text.split("\n\n资料原文要点：\n")[0] == f"{copied} [2]"


def test_a_section_retrieval_scored_far_below_the_top_one_is_not_given_to_the_model(index, monkeypatch):
    """Sources scoring under ``related_share`` of the top one's are left out of the prompt (the rest
    keep their order and are numbered [1]..); the refusal's list of closest sections keeps them."""
    from assistant.answer.sources import related_hits

    question = "L1正则为什么容易产生稀疏解？"
    hits = index.search(question, k=3)
    share = hits[2].score / hits[0].score
    assert 0 < share < 1 and related_hits(hits, share + 0.01) == hits[:2] and related_hits(hits, share - 0.01) == hits
    assert related_hits(hits, 1.0) == hits[:1 + (hits[1].score == hits[0].score)] and related_hits([], 0.5) == []
    reply = "L1正则化使部分参数为零。 [1]\n另一段。 [3]"
    config = AnswerConfig(k=3, refuse_unknown_names=False, related_share=share + 0.01)
    generator = ScriptedGenerator(reply)
    answer = StudyAssistant(index, generator, config).ask(question)
    prompt = generator.calls[0][-1]["content"]
    assert answer.sources == hits[:2] and "[2] 《" in prompt and "[3] 《" not in prompt
    assert answer.dropped_citations == 1 and [c["n"] for c in answer.citations] == [1]
    generator = ScriptedGenerator(reply)
    kept = StudyAssistant(index, generator, replace(config, related_share=share - 0.01)).ask(question)
    assert kept.sources == hits and "[3] 《" in generator.calls[0][-1]["content"] and kept.dropped_citations == 0
    with pytest.raises(ValueError, match="related_share"):
        AnswerConfig(related_share=1.5)
    monkeypatch.setattr("assistant.answer.pipeline.weak_retrieval", lambda *_: True)  # the model's refusal stands
    refused = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")), config).ask(question)
    assert refused.refused and all(f"{hit.chunk.number}.{hit.chunk.title}" in refused.text for hit in hits)


def test_english_synthesis_is_checked_on_the_terms_the_notes_use(index):
    grounded = "Use ReLU or LeakyReLU, batch normalization and residual connections [1]."
    free = AnswerConfig(refuse_unknown_names=False, synthesis="free", notes_first=False)
    answer = StudyAssistant(index, ScriptedGenerator(grounded), free).ask("Which activation functions help with vanishing gradients?")
    assert answer.grounding >= 0.6 and answer.text.startswith(grounded)
    drifted = "Use the Adam optimizer with warmup and a cosine schedule."  # nothing the notes say
    answer = StudyAssistant(index, ScriptedGenerator(drifted), free).ask(
        "Which activation functions help with vanishing gradients?")
    assert answer.grounding < 0.6 and "Adam" not in answer.text


def test_a_looping_synthesis_keeps_each_line_once_and_the_final_answer_revises_the_stream(index):
    line = "对少数类别数据做过采样,多数类别数据做欠采样。 [1]"
    assistant = StudyAssistant(index, ScriptedGenerator("\n".join([line, line, line])),
                               AnswerConfig(refuse_unknown_names=False, notes_first=False))
    *pieces, answer = assistant.stream("类别不平衡怎么处理？")
    assert answer.text.count("多数类别数据做欠采样") <= 2  # once in the synthesis, at most once quoted
    assert answer.text.startswith(line + "\n\n") and "".join(pieces).startswith(line + "\n" + line)


MADE_UP = "Transformer 的位置编码使用正弦和余弦函数给每个词加上位置向量 [1]。"


def test_ungrounded_synthesis_under_weak_retrieval_becomes_a_refusal(index):
    assistant = StudyAssistant(index, ScriptedGenerator(MADE_UP), AnswerConfig(min_grounding=0.6, refuse_below=0.6, refuse_unknown_names=False))
    answer = assistant.ask("Transformer的位置编码怎么做？")
    assert answer.grounding < 0.6 and answer.confidence < 0.6
    assert answer.refused and answer.citations == [] and answer.text.startswith(refusal_text("zh"))


def test_ungrounded_synthesis_under_confident_retrieval_is_replaced_by_quotes(index):
    assistant = StudyAssistant(index, ScriptedGenerator(MADE_UP), AnswerConfig(min_grounding=0.6, refuse_below=0.3, refuse_unknown_names=False))
    answer = assistant.ask("Transformer的位置编码怎么做？")
    assert not answer.refused and "正弦" not in answer.text and answer.text.startswith("资料原文要点：")
    assert answer.draft == MADE_UP and answer.to_dict()["draft"] == MADE_UP  # what the model said stays on record


def test_unrelated_question_is_refused_without_calling_the_model(index):
    generator = ScriptedGenerator("不应被调用")
    answer = StudyAssistant(index, generator).ask("How long should I boil an egg?")
    assert answer.refused and generator.calls == [] and answer.draft == ""
    assert answer.text.startswith(refusal_text("en")) and "Closest sections" in answer.text
    assert answer.citations == [] and len(answer.sources) == 3


def test_model_refusal_is_recognised(index):
    config = AnswerConfig(refuse_below=0.6)
    answer = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")), config).ask("Adam优化器的偏差修正怎么做？")
    assert 0.05 <= answer.confidence < 0.6  # retrieval weak enough: the model's refusal is believed
    assert answer.refused and answer.citations == []


def test_under_strong_retrieval_the_model_may_not_open_with_the_refusal(index):
    """Where a refusal would give way to the quotes, the model is asked to answer instead; where
    retrieval is weak its refusal is believed, so it may refuse."""
    generator = ScriptedGenerator("鞍点是梯度为零的点 [1]。")
    strong = StudyAssistant(index, generator, AnswerConfig(refuse_below=0.3)).ask("什么是鞍点？")
    assert strong.confidence >= 0.3 and generator.options[-1]["forbid_openings"] == (refusal_text("zh"),)
    english = StudyAssistant(index, generator, AnswerConfig(refuse_below=0.0, refuse_unknown_names=False))
    english.ask("What is a saddle point?")
    assert generator.options[-1]["forbid_openings"] == (refusal_text("en"), refusal_text("zh"))
    weak = StudyAssistant(index, generator, AnswerConfig(refuse_below=0.6, refuse_unknown_names=False))
    assert weak.ask("Adam优化器的偏差修正怎么做？").confidence < 0.6 and len(generator.calls) == 3
    assert "forbid_openings" not in generator.options[-1]
    StudyAssistant(index, generator, AnswerConfig(refuse_below=0.3, answer_when_confident=False)).ask("什么是鞍点？")
    assert "forbid_openings" not in generator.options[-1]


def test_follow_up_retrieves_with_the_previous_question(index):
    generator = ScriptedGenerator("L2 让权重变小但不为零 [1]。")
    history = [{"role": "user", "content": "L1正则为什么比L2正则更容易产生稀疏解？"},
               {"role": "assistant", "content": "因为 L1 的等值线有尖角 [1]。"}]
    answer = StudyAssistant(index, generator).chat(history, "那L2正则呢？")
    assert answer.query.startswith("L1正则为什么")
    assert {"8", "16"} & {h.chunk.number for h in answer.sources}
    assert [m["role"] for m in generator.calls[0]] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("scope", ["section", "chunk"])
def test_sources_are_trimmed_to_source_chars_around_the_question(index, scope):
    """The model reads each section (or matched chunk) cut to source_chars, verbatim; the quotes
    still come from whole sections."""
    question = "L1正则为什么容易产生稀疏解？"
    whole, trimmed = ScriptedGenerator("L1 产生稀疏解 [1]。"), ScriptedGenerator("L1 产生稀疏解 [1]。")
    # the same room for the quotes whether or not a check withholds the synthesis
    same_room = {"alone_quote_sentences": AnswerConfig.quote_sentences, "alone_quote_chars": AnswerConfig.quote_chars}
    full = StudyAssistant(index, whole, AnswerConfig(k=3, source_chars=0, source_scope=scope, notes_first=False,
                                                     **same_room)).ask(question)
    cut = StudyAssistant(index, trimmed, AnswerConfig(k=3, source_chars=120, source_scope=scope, notes_first=False,
                                                      **same_room)).ask(question)
    assert [h.chunk.id for h in cut.sources] == [h.chunk.id for h in full.sources]
    prompt_whole, prompt_cut = whole.calls[0][-1]["content"], trimmed.calls[0][-1]["content"]
    assert len(prompt_cut) < len(prompt_whole)
    for n, hit in enumerate(cut.sources, start=1):
        assert f"[{n}] 《{hit.chunk.title}》" in prompt_cut
        body = prompt_cut.split(f"[{n}] 《{hit.chunk.title}》\n", 1)[1].split("\n\n[", 1)[0].split("\n</资料>")[0]
        read_from = index.sections[hit.section_ref].text if scope == "section" else hit.chunk.text
        assert len(body.replace("\n", "")) <= 120 or body == read_from.strip()
        starts_under = f"#### {hit.chunk.heading}"  # the sub-heading a chunk begins in
        assert all(line in read_from or line == starts_under for line in body.splitlines())  # verbatim
        whole_body = prompt_whole.split(f"[{n}] 《{hit.chunk.title}》\n", 1)[1].split("\n\n[", 1)[0]
        assert whole_body.split("\n</资料>")[0] == read_from.strip()
    assert "稀疏" in prompt_cut.split("</资料>")[0]  # the sentences about the question stay
    assert cut.text.split("资料原文要点：")[1] == full.text.split("资料原文要点：")[1]


def test_a_section_source_is_an_extract_of_the_whole_section(index):
    """A long section reaches the model as its opening and the sentences nearest the question,
    wherever they stand in it (here past the first 600 characters), within source_chars."""
    from assistant.answer.sources import prompt_sources

    question = "Which activation functions help with vanishing gradients?"
    hits = index.search(question, k=1)
    section = index.sections[hits[0].section_ref].text
    assert len(section) > 600 and "LeakyReLU" not in section[:600]
    (_, extract), = prompt_sources(index, question, hits, 600)
    (_, from_chunk), = prompt_sources(index, question, hits, 600, "chunk")
    assert len(extract) <= 600 and "LeakyReLU" in extract
    assert extract.splitlines()[0] in section[:80]  # the section's first sentence still opens it
    assert extract.splitlines()[0] not in from_chunk  # the matched chunk alone starts further on


def test_a_synthesis_that_only_echoes_the_source_headers_leaves_the_quotes_alone(index):
    echo = "[1] 《数据类别不平衡怎么处理?》 [2] 《什么是过拟合?》 [3] 《L范数的作用?》"
    answer = StudyAssistant(index, ScriptedGenerator(echo), AnswerConfig(k=3)).ask("样本类别不平衡怎么处理？")
    assert not answer.refused and "《" not in answer.text and answer.text.startswith("资料原文要点：")
    assert [c["n"] for c in answer.citations] == [1]  # the quotes' source, not every source


def test_answer_settings_are_validated():
    with pytest.raises(ValueError, match="source_chars should be >= 0"):
        AnswerConfig(source_chars=-1)
    with pytest.raises(ValueError, match="min_confidence should be in"):
        AnswerConfig(min_confidence=2)
    with pytest.raises(ValueError, match="min_grounding should be in"):
        AnswerConfig(min_grounding=-0.1)


def test_model_refusal_with_confident_retrieval_falls_back_to_quotes(index):
    answer = StudyAssistant(index, ScriptedGenerator(refusal_text("zh"))).ask("Dropout的作用是什么？")
    assert answer.confidence >= 0.3
    assert not answer.refused and answer.text.startswith("资料原文要点：\n> ")
    assert answer.citations and answer.citations[0]["ref"] == answer.sources[0].section_ref


def test_an_answer_followed_by_the_refusal_is_doubted_and_the_quotes_answer(index):
    # a small model may answer and then add the refusal line; its trailing doubt is usually right
    # (such answers were often wrong): the reply is taken for a refusal, and under strong
    # retrieval the quotes answer alone
    reply = f"Dropout 随机丢弃神经元，防止过拟合 [1]。\n{refusal_text('zh')}"
    answer = StudyAssistant(index, ScriptedGenerator(reply), AnswerConfig(refuse_below=0.3)).ask("Dropout的作用是什么？")
    assert answer.confidence >= 0.3 and not answer.refused and answer.draft == reply
    assert answer.text.startswith("资料原文要点：\n> ") and "随机丢弃神经元" not in answer.text


def test_english_names_the_corpus_never_mentions_are_refused_without_the_model(index):
    from assistant.answer.gate import unknown_names

    assert unknown_names(index, "Focal Loss里的gamma参数起什么作用？") == ["Focal", "gamma"]
    assert unknown_names(index, "k-means 聚类的 K 值怎么选？") == ["k-means"]
    assert unknown_names(index, "Dropout和PEFT有什么关系？") == []  # both are in the notes
    assert unknown_names(index, "weight decay 太大会怎样？") == []  # glossary words count as known
    assert unknown_names(index, "What is focal loss?") == []  # English: ordinary words are not names
    assert unknown_names(index, "How does PCA reduce dimensionality? What about Dropout?") == ["PCA"]
    assert unknown_names(index, "Is it overfitting. What is this called?") == []  # sentence starts skipped
    generator = ScriptedGenerator("不应被调用")
    answer = StudyAssistant(index, generator).ask("Mixup数据增强是怎么混合样本和标签的？")
    assert answer.refused and generator.calls == [] and "资料中没有出现：Mixup" in answer.text
    relaxed = StudyAssistant(index, generator, AnswerConfig(refuse_unknown_names=False))
    assert not relaxed.ask("Mixup数据增强是怎么混合样本和标签的？").refused


@pytest.mark.parametrize("question", [
    "Mixup数据增强是怎么混合样本和标签的？",  # a name the notes lack
    "How long should I boil an egg to get a runny yolk?",  # no query term in the sources
    "Dropout的作用是什么？",  # covered
    "红烧肉怎么做才不腻？",  # uncovered, sharing only common words with the notes
    "过拟合和红烧肉有什么关系？",  # half covered: the model decides
])
def test_reaches_model_says_whether_the_assistant_asks_the_model(index, question):
    from assistant.answer.gate import reaches_model

    generator = ScriptedGenerator(refusal_text("zh"))
    StudyAssistant(index, generator).ask(question)
    assert reaches_model(index, AnswerConfig(), question, index.search(question, k=AnswerConfig().k)) == bool(generator.calls)


def test_formula_names_count_as_mentioned(index):
    """The notes write the L0 norm only as LaTeX ($\\mathcal{L}_0$): "L0" is not an unknown name."""
    from assistant.answer.gate import unknown_names

    assert "\\mathcal{l}_0" in index.text
    assert unknown_names(index, "矩阵的L0范数表示什么？") == []
    assert unknown_names(index, "L7范数是什么？") == ["L7"]


GATE_NOTES = """## 1.什么是过拟合？
模型在训练集上表现很好，在测试集上表现差，说明模型记住了训练数据的噪声。

## 2.如何缓解过拟合？
增加训练数据、数据增强、正则化、Dropout、早停都可以缓解过拟合。

## 3.什么是学习率？
学习率决定每一步参数更新的大小，太大会震荡，太小收敛慢。

## 4.for循环和while循环怎么选？
次数已知时用 for 循环，条件驱动时用 while 循环。

## 5.Huber Loss和NMS是什么？
Huber Loss 对离群点不敏感；NMS（非极大值抑制）去掉重叠的框，保留 center 最准的那个。Focal-Loss 关注难样本。
"""


@pytest.fixture
def gate_index(tmp_path, data_home, fake_encoder):
    """A corpus built here, so the gate is seen to work from the corpus alone (no word list)."""
    (tmp_path / "gate_notes.md").write_text(GATE_NOTES, "utf-8")
    return open_index(load_corpus(tmp_path / "gate_notes.md"), data_home, encoder=fake_encoder, progress=False)


def test_evidence_coverage_weighs_the_rare_terms_of_a_question_most(gate_index):
    from assistant.answer.gate import evidence_coverage

    def coverage(question):
        terms = set(gate_index.tokenizer.tokenize_query(question))
        return evidence_coverage(gate_index, terms, gate_index.search(question, k=3))

    assert coverage("过拟合怎么缓解？") > 0.9  # every term is in the notes
    # one unknown word of three: it weighs more than the two the notes have ("怎么" is in one
    # section, "做" in none of the retrieved ones)
    assert coverage("红烧肉怎么做才能肥而不腻？") < 0.25
    assert 0 < coverage("学习率和红烧肉") < coverage("学习率和过拟合")
    assert evidence_coverage(gate_index, set(), gate_index.search("学习率", k=3)) == 0.0


def test_a_chinese_question_whose_rare_words_the_notes_lack_is_refused_without_the_model(gate_index):
    question = "红烧肉要训练多久？"  # "训练" is in the notes: enough terms found, too little weight
    generator = ScriptedGenerator("不应被调用")
    answer = StudyAssistant(gate_index, generator).ask(question)
    assert answer.refused and generator.calls == [] and answer.confidence >= AnswerConfig().min_confidence
    asked = ScriptedGenerator(refusal_text("zh"))
    StudyAssistant(gate_index, asked, AnswerConfig(min_coverage=0.0)).ask(question)
    assert asked.calls  # without the coverage rule the model is asked
    # English words rarely occur in Chinese notes: an English question's coverage is not held against it
    from assistant.answer.gate import retrieval_gate

    strict = AnswerConfig(min_coverage=1.0, refuse_unknown_names=False)
    for question, passes in [("How does overfitting happen?", True), ("过拟合是怎么发生的？", False)]:
        terms = set(gate_index.tokenizer.tokenize_query(question))
        gate = retrieval_gate(gate_index, strict, question, terms, gate_index.search(question, k=3))
        assert gate.coverage < 1.0 and gate.passed == passes, (question, gate)
    covered = ScriptedGenerator("过拟合可以用数据增强和正则化缓解 [1]。")
    assert not StudyAssistant(gate_index, covered).ask("怎么缓解模型过拟合？").refused


def test_words_the_notes_print_count_as_known_even_when_search_skips_them(gate_index):
    """"for" is a search stopword, so not among the BM25 terms, but the notes print it."""
    from assistant.answer.gate import unknown_names

    assert "for" not in gate_index.vocabulary
    assert unknown_names(gate_index, "for循环什么时候用？") == []
    assert unknown_names(gate_index, "foreach循环什么时候用？") == ["foreach"]


def test_a_name_of_known_words_that_the_notes_never_write_together_is_unknown(gate_index):
    """"Center Loss" and "Soft-NMS" are near misses: the notes have "center", "Loss" and "NMS",
    never the names; a name the notes do write, however joined, is known."""
    from assistant.answer.gate import unknown_names

    assert unknown_names(gate_index, "人脸识别里的Center Loss是怎么压缩类内距离的？") == ["Center Loss"]
    assert unknown_names(gate_index, "What is Soft-NMS, and how does it differ from NMS?") == ["Soft-NMS"]
    assert unknown_names(gate_index, "Huber Loss对离群点为什么不敏感？") == []
    assert unknown_names(gate_index, "What does Huber-Loss do with outliers?") == []
    assert unknown_names(gate_index, "focal loss关注什么样本？") == []  # lower case: not taken for a name
    assert unknown_names(gate_index, "Why is Huber Loss used with multi-NMS boxes?") == []
    assert unknown_names(gate_index, "Focal Loss关注什么样本？") == []  # written "Focal-Loss" in the notes
    generator = ScriptedGenerator("不应被调用")
    answer = StudyAssistant(gate_index, generator).ask("人脸识别里的Center Loss是怎么压缩类内距离的？")
    assert answer.refused and generator.calls == [] and "资料中没有出现：Center Loss" in answer.text


def test_a_refusal_names_each_unknown_term_once(index):
    answer = StudyAssistant(index, ScriptedGenerator("不应被调用")).ask("SMOTE是怎么合成样本的？")
    assert answer.refused and answer.text.count("SMOTE") == 1 and "smote" not in answer.text


def test_public_api_imports_from_the_package_without_torch():
    import subprocess
    import sys

    code = "import sys; from assistant import StudyAssistant, Answer, DrillSession; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


def test_english_question_with_a_close_top_section_gets_quotes_instead_of_a_refusal(index):
    """English words rarely occur in the Chinese notes, so term overlap is weak even when the right
    section comes first; a declining model is then answered by the quotes if the section is close."""
    question = "How do I pick the decision threshold that maximises F1 for a classifier?"
    declining = ScriptedGenerator(refusal_text("en"))
    close = StudyAssistant(index, declining, AnswerConfig(en_strong_similarity=0.0, refuse_unknown_names=False))
    answer = close.ask(question)
    assert answer.confidence < close.config.refuse_below
    assert not answer.refused and answer.citations and "> " in answer.text
    far = StudyAssistant(index, declining, AnswerConfig(en_strong_similarity=1.0, refuse_unknown_names=False))
    assert far.ask(question).refused
    chinese = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")),
                             AnswerConfig(en_strong_similarity=0.0, refuse_below=1.0, refuse_unknown_names=False))
    assert chinese.ask("F1最高的阈值怎么找？").refused  # the similarity rule is for English questions only


def test_when_no_sentence_shares_a_word_the_top_sections_opening_is_quoted(index, monkeypatch):
    question = "How do I pick the decision threshold that maximises F1 for a classifier?"
    assistant = StudyAssistant(index, ScriptedGenerator(refusal_text("en")),
                               AnswerConfig(en_strong_similarity=0.0, refuse_unknown_names=False))
    monkeypatch.setattr("assistant.answer.pipeline.quoted_sentences", lambda *args: [])  # as for English words over Chinese notes
    answer = assistant.ask(question)
    opening = index.sections[answer.sources[0].section_ref].text
    assert not answer.refused and answer.text.strip() and answer.citations[0]["n"] == 1
    first_quote = answer.text.split("\n")[1].removeprefix("> ").removesuffix(" [1]")
    assert first_quote in opening and opening.find(first_quote) < 80  # from the section's start


def test_an_empty_answer_becomes_a_refusal(index, monkeypatch):
    assistant = StudyAssistant(index, ScriptedGenerator(""), AnswerConfig(quote_sentences=0))
    answer = assistant.ask("什么是鞍点？")
    assert answer.refused and answer.text.startswith(refusal_text("zh"))


def test_by_default_only_the_lines_that_copy_a_source_are_shown(index):
    """``synthesis = "copies"``: a line in the model's own words is withheld from its first such
    clause on, the copied line and the quotes stay, the stream shows what the answer shows, and the
    grounded paraphrase still counts as the model drawing on the sources (no refusal)."""
    copied = "鞍点是一个既不是局部最小值也不是局部最大值的点,但在某些方向上表现为最小值。 [1]"
    own = "鞍点就像马鞍的中间，沿一个方向最低、沿另一个方向最高。 [1]"
    assistant = StudyAssistant(index, ScriptedGenerator(f"{copied}\n{own}"), AnswerConfig(k=2, notes_first=False))
    items = list(assistant.stream("什么是鞍点？"))
    answer = items[-1]
    assert "".join(items[:-1]) == answer.text and not answer.refused
    assert answer.text.startswith(copied) and "马鞍的中间" not in answer.text and "资料原文要点" in answer.text
    assert answer.unsupported == [own] and answer.withheld == [] and answer.grounding >= 0.6
    only_own = StudyAssistant(index, ScriptedGenerator(own), AnswerConfig(k=2)).ask("什么是鞍点？")
    assert not only_own.refused and only_own.text.startswith("资料原文要点：\n> ") and only_own.unsupported == [own]
    english = StudyAssistant(index, ScriptedGenerator("A saddle point is both a minimum and a maximum. [1]"),
                             AnswerConfig(k=2, refuse_unknown_names=False)).ask("What is a saddle point?")
    assert not english.refused and english.text.startswith("From the notes:\n> ") and "maximum" not in english.text


def test_without_rag_the_model_answers_alone(index):
    generator = ScriptedGenerator("鞍点是梯度为零但不是极值的点。 [2]")
    answer = StudyAssistant(index, generator, AnswerConfig(), rag=False).ask("什么是鞍点？")
    assert answer.text == "鞍点是梯度为零但不是极值的点。" and answer.sources == [] and not answer.refused
    assert answer.dropped_citations == 1 and "<资料>" not in generator.calls[0][-1]["content"]


def test_a_question_asking_for_the_ways_quotes_the_notes_list_first(index):
    question = "解决过拟合的方法有哪些？"
    answer = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")), AnswerConfig(k=1)).ask(question)
    quotes = answer.text.split("资料原文要点：\n")[1].split("\n")
    assert quotes[0].startswith("> 解决过拟合的方法：重新清洗数据；增加训练样本数量；降低模型复杂程度；") and quotes[0].endswith("[1]")
    assert len(quotes) <= AnswerConfig().alone_quote_sentences  # the quotes answer alone here
    plain = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")), AnswerConfig(k=1, quote_lists=False)).ask(question)
    assert "；增加训练样本数量；" not in plain.text


def test_only_the_top_source_quoted_alone_is_filled_with_its_other_sentences(index, monkeypatch):
    """Room left by the sentences sharing a question term goes to the top section's others when it
    is quoted alone; beside another source it keeps that room for the other's key sentences, and
    another source's opening is not filled in (it need not be about the question)."""
    from assistant.answer import quotes

    asked = []
    real = quotes.key_sentences
    monkeypatch.setattr(quotes, "key_sentences", lambda *args, **kwargs: asked.append(kwargs["fill"]) or real(*args, **kwargs))
    hits = index.search("L1正则为什么容易产生稀疏解？", k=2)
    config = AnswerConfig(quote_lists=False)
    for cited, fills in (([1], [True]), ([1, 2], [False, False]), ([2], [False])):
        asked.clear()
        quotes.quoted_sentences(index, config, {"L1", "稀疏"}, hits, cited)
        assert asked == fills, cited


def test_quotes_that_answer_alone_get_the_room_of_the_synthesis(index):
    config = AnswerConfig(k=1, quote_sentences=1, alone_quote_sentences=3, quote_lists=False, notes_first=False)
    alone = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")), config).ask("什么是鞍点？")
    quotes = alone.text.split("资料原文要点：\n")[1].split("\n")
    assert not alone.refused and len(quotes) == 3  # no synthesis shown: the quotes get its room
    first = quotes[0].removeprefix("> ").removesuffix(" [1]")
    with_synthesis = StudyAssistant(index, ScriptedGenerator(f"{first} [1]"), config).ask("什么是鞍点？")
    synthesis, quoted = with_synthesis.text.split("\n\n资料原文要点：\n")
    assert synthesis == f"{first} [1]" and len(quoted.split("\n")) == 1


def test_under_strong_retrieval_the_notes_come_first_before_the_model_is_asked(index):
    """``notes_first``: the top section's key sentences are the first thing streamed, before the
    model is called; the synthesis follows under its heading, without the lines that only repeat a
    quote; the stream is the answer."""
    copied = "鞍点是一个既不是局部最小值也不是局部最大值的点,但在某些方向上表现为最小值。 [1]"  # repeats a quote
    other = "在二维空间中,可以将鞍点想象为一个山谷和山脊交汇的地方。 [1]"
    generator = ScriptedGenerator(f"{copied}\n{other}")
    config = AnswerConfig(k=2, quote_sentences=1, quote_lists=False)
    stream = StudyAssistant(index, generator, config).stream("什么是鞍点？")
    first = next(stream)
    assert first.startswith("资料原文要点：\n> ") and first.endswith("[1]") and generator.calls == []
    *pieces, answer = [first, *stream]
    assert "".join(pieces) == answer.text and not answer.refused
    quoted, synthesis = answer.text.split("\n\n归纳：\n")
    assert quoted == first and synthesis == other  # the repeated line is neither streamed nor shown
    assert answer.timings["first_token"] <= answer.timings["model_first_token"]
    assert answer.draft == f"{copied}\n{other}"


def test_notes_first_quotes_that_answer_alone_get_the_rest_of_the_room(index):
    config = AnswerConfig(k=1, quote_sentences=1, alone_quote_sentences=3, quote_lists=False)
    *pieces, answer = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")), config).stream("什么是鞍点？")
    quotes = answer.text.split("资料原文要点：\n")[1].split("\n")
    assert len(quotes) == 3 and "归纳" not in answer.text and not answer.refused
    assert "".join(pieces) == answer.text and pieces[0] == "资料原文要点：\n" + quotes[0]  # shown first, then more


def test_under_weak_retrieval_the_model_speaks_first_as_it_may_refuse(index, monkeypatch):
    monkeypatch.setattr("assistant.answer.pipeline.weak_retrieval", lambda *args: True)
    config = AnswerConfig(synthesis="free")
    reply = "鞍点是梯度为零但不是极值的点。 [1]"
    answer = StudyAssistant(index, ScriptedGenerator(reply), config).ask("什么是鞍点？")
    assert answer.text.startswith(reply + "\n\n资料原文要点：\n> ")
    refused = StudyAssistant(index, ScriptedGenerator(refusal_text("zh")), config).ask("什么是鞍点？")
    assert refused.refused and "资料原文要点" not in refused.text
