"""The answer judge: its labels on hand-made answers, its agreement figures, the model mode, and
the eval's judged rates."""

import json

import pytest

from assistant.judge import JudgeCase, ModelJudge, RuleJudge, cohen_kappa, parse_label, split_answer, validate
from assistant.llm.base import ChatModel
from index.lexical import ChineseTokenizer

NOTES = ("L1正则会使部分参数为0，产生稀疏解，可以用于特征选择。L2正则使得整个训练过程稳定平滑,但是没有产生稀疏性。",)
QUESTION = "L1正则为什么容易产生稀疏解？"


@pytest.fixture(scope="module")
def judge():
    return RuleJudge(ChineseTokenizer())


@pytest.mark.parametrize("answer, label", [
    ("L1正则会使部分参数为0，产生稀疏解。 [1]\n因此可以用于特征选择。 [1]", "correct"),
    ("L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]", "contradicts"),  # the L2 sentence said of L1
    ("L1正则会使部分参数为0，产生稀疏解。 [1]\nL1正则会使部分参数为0.5。 [1]", "contradicts"),  # a number changed
    ("导入相应的Modules (numpy, pandas, matplotlib)。 [1]\n数据清洗与预处理。 [1]", "off_topic"),
    ("L1正则可以用于特征选择。 [1]", "incomplete"),  # true, on topic, without the key point
])
def test_the_rule_judge_labels_hand_made_answers(judge, answer, label):
    case = JudgeCase(QUESTION, answer, NOTES, key_points=("稀疏", "为0"))
    verdict = judge.judge(case)
    assert verdict.label == label, verdict
    assert bool(verdict.lines) == (label == "contradicts")


def test_quotes_are_split_from_the_models_lines():
    assert split_answer("A [1]\n\n资料原文要点：\n> B [1]") == ("A [1]", "> B [1]")
    assert split_answer("A [1]\n\nFrom the notes:\n> B [1]") == ("A [1]", "> B [1]")  # an English answer's
    assert split_answer("资料原文要点：\n> B [1]") == ("", "> B [1]")  # the quotes answering alone
    assert split_answer("A [1]\n> B") == ("A [1]\n> B", "")
    assert split_answer("资料原文要点：\n> B [1]\n\n归纳：\nA [1]") == ("A [1]", "> B [1]")  # the notes first
    assert split_answer("From the notes:\n> B [1]\n\nIn short:\nA [1]") == ("A [1]", "> B [1]")
    assert split_answer("资料原文要点：\n> B [1]\n\n归纳：\nA [2]\n\n资料原文要点：\n> C [2]") == ("A [2]", "> B [1]\n> C [2]")


def test_kappa_and_agreement_match_hand_worked_values():
    # observed 3/4; chance (2*1 + 1*1 + 1*2)/16 = 5/16 -> (0.75 - 0.3125) / 0.6875
    assert cohen_kappa(["a", "a", "b", "c"], ["a", "c", "b", "c"]) == round((0.75 - 0.3125) / 0.6875, 4)
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0
    agreement = validate(["correct", "correct", "contradicts", "off_topic"], ["correct", "incomplete", "contradicts", "correct"])
    assert agreement.accuracy == 0.5 and agreement.per_label["contradicts"]["kappa"] == 1.0
    assert agreement.per_label["correct"]["precision"] == 0.5 and agreement.per_label["correct"]["recall"] == 0.5
    assert agreement.confusion["correct"] == {"correct": 1, "incomplete": 1}
    with pytest.raises(ValueError, match="as many"):
        validate(["correct"], [])


class Replying(ChatModel):
    def __init__(self, reply):
        self.reply, self.prompts = reply, []

    def stream(self, messages, options=None):
        self.prompts.append(messages[-1]["content"])
        yield self.reply


def test_the_model_judge_labels_from_the_models_reply_but_rule_contradictions_stand(judge):
    model = Replying("LABEL: off_topic\n讲的是别的概念。")
    verdict = ModelJudge(model, judge).judge(JudgeCase(QUESTION, "L1正则会使部分参数为0，产生稀疏解。 [1]", NOTES))
    assert verdict.label == "off_topic" and "讲的是别的概念" in verdict.reason
    assert QUESTION in model.prompts[0] and NOTES[0][:20] in model.prompts[0]
    swapped = JudgeCase(QUESTION, "L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]", NOTES)
    assert ModelJudge(model, judge).judge(swapped).label == "contradicts" and len(model.prompts) == 1
    unreadable = ModelJudge(Replying("嗯……"), judge).judge(JudgeCase(QUESTION, "L1正则会使部分参数为0，产生稀疏解。 [1]", NOTES))
    assert unreadable.label == "correct"  # the rules' label when the model names none


def test_a_judge_model_that_fails_leaves_that_answer_to_the_rules(judge):
    from assistant.judge import MODEL_FAILED
    from assistant.llm.errors import BackendError

    class Down(ChatModel):
        def stream(self, messages, options=None):
            raise BackendError("The model server at http://127.0.0.1:9/v1 cannot be reached.")
            yield ""

    verdict = ModelJudge(Down(), judge).judge(JudgeCase(QUESTION, "L1正则会使部分参数为0，产生稀疏解。 [1]", NOTES))
    assert verdict.label == "correct" and verdict.reason.startswith(MODEL_FAILED) and "cannot be reached" in verdict.reason


def test_parse_label_reads_the_first_label_named():
    assert parse_label("LABEL: Off-topic\n…") == "off_topic" and parse_label("label: correct") == "correct"
    assert parse_label("无法判断") is None


def test_eval_reports_judged_rates_and_lists_contradicting_lines(monkeypatch, use_fake_encoder, run, tmp_path):
    from assistant import AnswerConfig, StudyAssistant, cli
    from assistant.indexing import open_search_index

    class Swapping(ChatModel):  # a draft whose second line states the L2 sentence of L1
        def stream(self, messages, options=None):
            yield "L1正则会让部分参数为0。 [1]\n所以L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]"

    def load(args, rag=True):
        return StudyAssistant(open_search_index(cli.load_config(args), progress=False), Swapping(),
                              AnswerConfig(refuse_below=0.0, min_grounding=0.0), rag=rag)

    monkeypatch.setattr(cli, "load_assistant", load)
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": QUESTION, "gold_sections": ["ml_basics_qa#8"],
                                     "key_points": ["稀疏"], "type": "zh"}, ensure_ascii=False), "utf-8")
    out = tmp_path / "report.json"
    code, stdout, _ = run("eval", "--corpus", "seed", "--questions", str(questions), "--out", str(out))
    report = json.loads(out.read_text())
    assert code == 0 and "judged (RuleJudge)" in stdout
    answer = report["answer"]
    assert answer["withheld_rate"] == 1.0  # the swapped line was cut before it was shown
    assert answer["contradiction_rate"] == 0.0 and answer["correct_rate"] + answer["incomplete_rate"] \
        + answer["off_topic_rate"] == 1.0
    markdown = out.with_suffix(".md").read_text()
    assert "Lines withheld at answer time" in markdown and "says \"l1\" where the notes say \"l2\"" in markdown
