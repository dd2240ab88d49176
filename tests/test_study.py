"""StudyAssistant pipeline with a deterministic fake generator (no model)."""

import pytest

from assistant.prompting import refusal_text
from assistant.study import Answer, AnswerConfig, StudyAssistant
from corpus import load_corpus
from index import open_index


class ScriptedGenerator:
    """Replies with a fixed text in pieces and remembers the messages it was given."""

    def __init__(self, reply):
        self.reply = reply
        self.calls = []

    def stream(self, messages, **_):
        self.calls.append(messages)
        for i in range(0, len(self.reply), 4):
            yield self.reply[i : i + 4]


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus(), data_home, encoder=fake_encoder, progress=False)


def test_answer_maps_citations_to_sections_and_drops_unknown_ones(index):
    generator = ScriptedGenerator("逐元素相乘 [1]，用于门控 [1][7]。")
    answer = StudyAssistant(index, generator, k=3).ask("哈达玛积是什么？")
    assert answer.sources[0].chunk.number == "12"
    assert answer.citations == [{"n": 1, "ref": "ml_basics_qa#12", "doc": "ml_basics_qa", "section": "12",
                                 "title": answer.sources[0].chunk.title}]
    assert answer.text == "逐元素相乘 [1]，用于门控 [1]。" and answer.dropped_citations == 1
    assert not answer.refused
    assert set(answer.timings) == {"retrieve", "first_token", "total"}
    assert "[1] 《什么是哈达玛积" in generator.calls[0][-1]["content"]


def test_stream_yields_pieces_then_the_answer(index):
    items = list(StudyAssistant(index, ScriptedGenerator("鞍点是梯度为零的点 [1]。"), k=2).stream("什么是鞍点？"))
    assert isinstance(items[-1], Answer)
    assert "".join(items[:-1]) == "鞍点是梯度为零的点 [1]。" == items[-1].text
    assert len(items) > 2


def test_unrelated_question_is_refused_without_calling_the_model(index):
    generator = ScriptedGenerator("不应被调用")
    answer = StudyAssistant(index, generator, min_confidence=0.1).ask("How long should I boil an egg?")
    assert answer.refused and generator.calls == []
    assert answer.text.startswith(refusal_text("en")) and "Closest sections" in answer.text
    assert answer.citations == [] and len(answer.sources) == 3


def test_model_refusal_is_recognised(index):
    answer = StudyAssistant(index, ScriptedGenerator(refusal_text("zh"))).ask("Adam优化器的偏差修正怎么做？")
    assert answer.refused and answer.citations == []


def test_follow_up_retrieves_with_the_previous_question(index):
    generator = ScriptedGenerator("L2 让权重变小但不为零 [1]。")
    history = [{"role": "user", "content": "L1正则为什么比L2正则更容易产生稀疏解？"},
               {"role": "assistant", "content": "因为 L1 的等值线有尖角 [1]。"}]
    answer = StudyAssistant(index, generator).chat(history, "那L2正则呢？")
    assert answer.query.startswith("L1正则为什么")
    assert {"8", "16"} & {h.chunk.number for h in answer.sources}
    assert [m["role"] for m in generator.calls[0]] == ["system", "user", "assistant", "user"]


def test_answer_settings_are_validated():
    with pytest.raises(ValueError, match="min_confidence should be in"):
        AnswerConfig(min_confidence=2)
