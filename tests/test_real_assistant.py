"""The whole assistant with the real bundled model and encoder (about a minute on 2 cores)."""

import pytest


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def assistant(real_assistant):
    return real_assistant


def test_answer_cites_the_right_section(assistant):
    answer = assistant.ask("L1正则为什么比L2正则更容易产生稀疏解？")
    assert not answer.refused and answer.text
    assert "ml_basics_qa#8" in [c["ref"] for c in answer.citations]
    assert answer.timings["first_token"] <= answer.timings["total"]


def test_question_outside_the_corpus_is_refused(assistant):
    answer = assistant.ask("How long should I boil an egg?")
    assert answer.refused and answer.citations == []
