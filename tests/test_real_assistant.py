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


def test_the_bundled_tokenizer_read_directly_equals_autotokenizer(assistant):
    """load_tokenizer reads tokenizer.json with the tokenizers library (faster start): the same ids
    on the whole seed corpus, the same chat prompt, the same special tokens."""
    from transformers import AutoTokenizer

    from assistant.llm.speedups import transformers_model as _transformers_model
    from corpus.loading import corpus_path

    fast = assistant.model.tokenizer
    auto = AutoTokenizer.from_pretrained(_transformers_model(assistant.model.model).name_or_path)
    assert type(fast).__name__ != type(auto).__name__ == "Qwen2Tokenizer"  # really the direct path
    lines = corpus_path("seed").read_text(encoding="utf-8").splitlines()
    assert [fast(line)["input_ids"] for line in lines] == [auto(line)["input_ids"] for line in lines]
    messages = [{"role": "system", "content": "只依据资料回答。"}, {"role": "user", "content": "什么是 Dropout？"}]
    prompt = auto.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert fast.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == prompt
    assert (fast.eos_token_id, fast.pad_token_id, fast.all_special_ids) == (auto.eos_token_id, auto.pad_token_id,
                                                                            auto.all_special_ids)


def test_the_shipped_adapter_records_a_recipe_that_builds_every_kind_of_example(assistant):
    """The shipped adapter's training.json records the recipe its data was built with; that recipe
    still builds examples of every kind it recorded, each prompt as the pipeline builds it. Whether
    they are byte-for-byte the trained-on data is ``train-lora --check``'s question, not a test's:
    a change to the answer heuristics may call for retraining without being a defect."""
    from assistant.config import Config
    from assistant.training.recipe import Recipe, recipe_examples, shipped_dataset

    recorded = shipped_dataset()
    examples = recipe_examples(assistant.index, Config.load(None).answer, Recipe.recorded(recorded["prompt"]))
    kinds = {e.kind for e in examples}
    assert kinds == set(recorded["kinds"])
    assert all(e.messages[0]["role"] == "system" and "<资料>" in e.messages[-1]["content"]
               for e in examples if e.kind != "refusal")
    assert abs(len(examples) - recorded["examples"]) <= 0.1 * recorded["examples"]
