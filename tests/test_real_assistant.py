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
    from corpus.loading import default_corpus_path

    fast = assistant.model.tokenizer
    auto = AutoTokenizer.from_pretrained(_transformers_model(assistant.model.model).name_or_path)
    assert type(fast).__name__ != type(auto).__name__ == "Qwen2Tokenizer"  # really the direct path
    lines = default_corpus_path().read_text(encoding="utf-8").splitlines()
    assert [fast(line)["input_ids"] for line in lines] == [auto(line)["input_ids"] for line in lines]
    messages = [{"role": "system", "content": "只依据资料回答。"}, {"role": "user", "content": "什么是 Dropout？"}]
    prompt = auto.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert fast.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == prompt
    assert (fast.eos_token_id, fast.pad_token_id, fast.all_special_ids) == (auto.eos_token_id, auto.pad_token_id,
                                                                            auto.all_special_ids)


def test_the_shipped_adapter_was_trained_on_the_examples_this_code_builds(assistant):
    """The default adapter's training.json records its dataset's sha256 and the prompt settings it
    was built with: today's training data (the real encoder's retrieval, those settings) must still
    be that data, or the adapter is stale (train-lora's recipe, ``lora_data.TRAINING_SOURCES``)."""
    import dataclasses
    import json
    from importlib import resources

    from assistant.config import Config
    from assistant.training.trainer import LoraTrainingConfig
    from assistant.training.examples import build_sft_examples, dataset_hash

    shipped = json.loads(resources.files("assistant").joinpath("data/adapter/training.json").read_text("utf-8"))
    prompt = shipped["dataset"]["prompt"]
    gate = dataclasses.replace(Config.load(None).answer, k=prompt["k"])
    examples = build_sft_examples(assistant.index, **prompt, gate=gate, seed=LoraTrainingConfig().seed)
    assert shipped["dataset"]["examples"] == len(examples)
    assert shipped["dataset"]["sha256"] == dataset_hash(examples)
