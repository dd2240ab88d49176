"""Every question README.md shows being asked is answered correctly by the real bundled model:
not refused, citing the section that answers it, nothing the rule judge finds contradicting the
notes, on topic and with the notes' key points (``assistant.judge.RuleJudge``)."""

import re
from pathlib import Path

import pytest

from assistant.judge import JudgeCase, RuleJudge

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parent.parent / "README.md"
# README question -> (the section that answers it, key points a correct answer holds)
EXPECTED = {
    "L1正则为什么容易产生稀疏解？": ("机器学习基础/机器学习优化方法知识点#8", ("L1", "稀疏")),
    "What is a saddle point?": ("机器学习基础/机器学习优化方法知识点#13", ("鞍点", "最小值", "最大值")),
    "什么是鞍点？": ("机器学习基础/机器学习优化方法知识点#13", ("鞍点", "最小值", "最大值")),
    "RAG里文档怎么切块？": ("大模型基础/模型推理与应用#6", ("切", "文本")),
}
FOLLOW_UP = ("L1正则为什么容易产生稀疏解？", "那L2正则呢？", "机器学习基础/机器学习优化方法知识点#8", ("L2", "稀疏"))


def readme_questions() -> list[tuple[str, str | None]]:
    """(question, scope) of each `study-assistant ask "…"` line of README.md."""
    found = re.findall(r'study-assistant ask "([^"]+)"([^#\n]*)', README.read_text("utf-8"))
    return [(question, (re.findall(r"--scope (\S+)", flags) or [None])[0]) for question, flags in found]


def test_the_readme_examples_are_the_ones_checked_here():
    asked = {question for question, _ in readme_questions()}
    assert asked == set(EXPECTED), f"README.md asks {sorted(asked)}: give each its section and key points here"
    assert FOLLOW_UP[1] in README.read_text("utf-8")


def check(assistant, answer, question, gold, key_points):
    sections = assistant.index.sections
    cited = [c["ref"] for c in answer.citations]
    case = JudgeCase(question, answer.text, (sections[gold].text,),
                     tuple(sections[ref].text for ref in dict.fromkeys(cited) if ref != gold), key_points)
    verdict = RuleJudge(assistant.index.tokenizer).judge(case)
    shown = f"{question}\n{answer.text}\n(cited {cited}; judged {verdict.label}: {verdict.reason})"
    assert not answer.refused, shown
    assert gold in cited, shown
    assert verdict.label == "correct", shown


@pytest.mark.parametrize("question, scope", readme_questions())
def test_a_readme_question_is_answered_correctly(real_collection_assistant, question, scope):
    gold, key_points = EXPECTED[question]
    answer = real_collection_assistant.ask(question, scope=scope)
    check(real_collection_assistant, answer, question, gold, key_points)


def test_the_readme_follow_up_is_answered_correctly(real_collection_assistant):
    first, follow_up, gold, key_points = FOLLOW_UP
    history = [{"role": "user", "content": first},
               {"role": "assistant", "content": real_collection_assistant.ask(first).text}]
    answer = real_collection_assistant.ask(follow_up, history)
    check(real_collection_assistant, answer, follow_up, gold, key_points)
