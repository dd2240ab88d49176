"""LoRA data and training on a tiny random Qwen2 (no download)."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from assistant.evaluation import load_questions
from assistant.answer.followup import retrieval_query
from assistant.llm.base import GenerationOptions
from assistant.llm.settings import GenerationConfig
from assistant.llm.transformers_backend import TransformersChatModel
from assistant.llm.adapters import load_adapter
from assistant.training.trainer import IGNORE, TARGET_MODULES, LoraTrainingConfig, encode_example, mean_loss, train_lora
from assistant.training.examples import build_sft_examples
from assistant.training.questions import overlapping, refusal_questions, training_questions
from assistant.prompts import refusal_text
from assistant import AnswerConfig
from assistant.answer.gate import reaches_model
from corpus import load_corpus
from index import IndexConfig, RetrievalConfig, open_index
from tiny_model import build_tiny_qwen2

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The seed corpus by chunks alone (no heading fields): the examples below, and the tiny
    model's replies to them, stay those the adapter tests were written against."""
    from conftest import BigramEncoder

    return open_index(load_corpus("seed"), tmp_path_factory.mktemp("home"), encoder=BigramEncoder(), progress=False,
                      config=IndexConfig(heading_encoder=""), retrieval=RetrievalConfig(heading_weight=0))


@pytest.fixture(scope="module")
def examples(index):
    return build_sft_examples(index, k=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    # wider init than the default 0.02: its near-uniform logits leave an adapter little to learn
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"), initializer_range=0.3)


def load_base(path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


def _points(target: str) -> list[tuple[str, int]]:
    """``"A [1]\nB [2]"`` -> ``[("A", 1), ("B", 2)]``."""
    return [(m.group(1), int(m.group(2))) for m in (re.fullmatch(r"(.+) \[(\d)\]", line) for line in target.splitlines())]


def test_examples_use_the_inference_prompt_and_cite_the_section_position(index, examples):
    from assistant.answer.prompt import build_messages

    covered = [e for e in examples if e.kind != "refusal"]
    refusals = [e for e in examples if e.kind == "refusal"]
    assert len(covered) >= 17
    # refusal examples: exactly the packaged questions the assistant would ask the model about
    asked_model = [q for q in refusal_questions(index)
                   if reaches_model(index, AnswerConfig(), q, index.search(q, k=2))]
    assert 0 < len(asked_model) < len(refusal_questions(index))
    assert sorted(e.question for e in refusals) == sorted(asked_model)
    assert {e.kind for e in covered} >= {"section", "variant", "heading", "pair", "followup"}
    asked = {t.question: t for t in training_questions(index)}
    for example in covered:
        history = example.messages[1:-1]  # a follow-up's first turn; else none
        assert bool(history) == (example.kind == "followup")
        hits = index.search(retrieval_query(example.question, history), k=2)
        sources = [(h.chunk.title, index.sections[h.section_ref].text) for h in hits]  # whole sections
        assert example.messages == build_messages(example.question, sources, history)
        refs = [h.section_ref for h in hits]
        wanted = [refs.index(r) + 1 for r in (example.section_ref, asked[example.question].also) if r]
        points = _points(example.target)
        assert points and {n for _, n in points} <= set(wanted)
        if example.kind == "english":  # written answers: the file's points, in order
            assert [p for p, _ in points] == list(asked[example.question].answer)
            continue
        for point, n in points:  # each point is what the prompt shows under its source number
            shown = sources[n - 1][1].replace("**", "").replace("__", "")
            assert point[:12] in shown, (example.question, point)
    assert {e.target for e in refusals} <= {refusal_text("zh"), refusal_text("en")}


def test_swapped_examples_show_their_section_lower_and_cite_its_new_number(index):
    """swap=1: every one-section example whose section retrieval put first shows it second (k=2)
    instead, swapped with the other source, and its target cites [2]; the rest is as without swap."""
    from assistant.answer.prompt import build_messages
    from assistant.text import letters

    plain = {(e.question, e.kind): e for e in build_sft_examples(index, k=2)}
    swapped = {(e.question, e.kind): e for e in build_sft_examples(index, k=2, swap=1.0)}
    assert plain.keys() == swapped.keys()
    moved = 0
    for key, example in swapped.items():
        before = plain[key]
        history = example.messages[1:-1]
        hits = index.search(retrieval_query(example.question, history), k=2)
        first_place = example.kind not in ("refusal", "pair") and hits[0].section_ref == example.section_ref
        if not first_place:
            assert example == before
            continue
        moved += 1
        sources = [(h.chunk.title, index.sections[h.section_ref].text) for h in reversed(hits)]
        assert example.messages == build_messages(example.question, sources, history)
        assert {n for _, n in _points(example.target)} == {2}
        # a written answer renumbered; else points of its own section (not the ones it had first: the
        # quotes of a second source are not filled with its other sentences, so they leave it others)
        if example.target != before.target.replace(" [1]", " [2]"):
            section = letters(index.sections[example.section_ref].text)
            assert all(letters(point) in section for point, _ in _points(example.target))
    assert moved >= 10


def test_examples_leave_out_the_sources_the_assistant_leaves_out(index):
    """related_share: a prompt shows only the retrieved sections scoring at least that share of the
    top one's, as the assistant's does; an example whose section is left out is not built (nothing
    in the prompt to teach from); the refusal questions stay those the assistant asks the model about."""
    from assistant.answer.prompt import build_messages
    from assistant.answer.sources import prompt_sources, related_hits

    share = 0.6
    related = build_sft_examples(index, k=3, related_share=share)
    every = {(e.question, e.kind): e for e in build_sft_examples(index, k=3)}
    asked = {t.question: t for t in training_questions(index)}
    fewer = 0
    for example in related:
        history = example.messages[1:-1]
        query = retrieval_query(example.question, history)
        hits = index.search(query, k=3)
        shown = related_hits(hits, share)
        assert example.messages == build_messages(example.question, prompt_sources(index, query, shown), history)
        fewer += len(shown) < len(hits)
        if example.kind != "refusal":
            assert all(n <= len(shown) for _, n in _points(example.target))
    assert fewer >= 10
    left_out = every.keys() - {(e.question, e.kind) for e in related}
    assert left_out and all(kind != "refusal" for _, kind in left_out)
    for question, kind in left_out:  # their section scored under the share; the followups' first turns aside
        if kind == "followup":
            continue
        item = asked[question]
        hits = index.search(question, k=3)
        kept = {h.section_ref for h in related_hits(hits, share)}
        assert not {r for r in (item.section_ref, item.also) if r} <= kept, question
    assert sorted(e.question for e in related if e.kind == "refusal") == sorted(
        q for q, kind in every if kind == "refusal")


def test_examples_trim_their_sources_as_the_assistant_does(index):
    from assistant.answer.prompt import build_messages
    from assistant.answer.sources import prompt_sources

    trimmed = build_sft_examples(index, k=2, source_chars=150)
    whole = build_sft_examples(index, k=2)
    assert abs(len(trimmed) - len(whole)) <= 0.1 * len(whole)  # a target needs related text the prompt shows
    for example in trimmed:
        history = example.messages[1:-1]
        query = retrieval_query(example.question, history)
        sources = prompt_sources(index, query, index.search(query, k=2), 150)
        assert example.messages == build_messages(example.question, sources, history)
        if example.kind not in ("refusal", "english"):  # targets come from the trimmed text the model reads
            shown = {n: text.replace("**", "").replace("__", "") for n, (_, text) in enumerate(sources, start=1)}
            assert all(p[:12] in shown[n] for p, n in _points(example.target))
    shorter = sum(len(e.messages[-1]["content"]) for e in trimmed)
    assert shorter < sum(len(e.messages[-1]["content"]) for e in whole)


def test_targets_are_shown_points_the_quotes_do_not_show_most_related_first(index):
    """The synthesis learns to add what the answer's quoted sentences leave out, from what it reads."""
    from assistant.answer.quotes import sentence_overlap
    from assistant.text import headed_sentences, split_sentences
    from assistant.training.examples import _clean, key_point_target
    from assistant import AnswerConfig
    from assistant.answer.quotes import quoted_sentences
    from assistant.answer.sources import prompt_sources

    question = "数据类别不平衡怎么处理？"
    hits = index.search(question, k=3)
    n = [h.section_ref for h in hits].index("ml_basics_qa#1") + 1
    sources = prompt_sources(index, question, hits, 0)
    terms = set(index.tokenizer.tokenize_query(question))
    quoted = [s for _, s in quoted_sentences(index, AnswerConfig(), terms, hits, [n])]
    points = _points(key_point_target(index, question, hits, sources, [n], max_points=4, max_chars=300))
    assert 1 <= len(points) <= 4 and {m for _, m in points} == {n}
    assert {p for p, _ in points} <= {_clean(s) for s in split_sentences(sources[n - 1][1])}  # whole, as shown
    assert not any(p in quote for p, _ in points for quote in quoted)
    assert sum(len(p) for p, _ in points) <= 300
    overlap = {_clean(s.text): sentence_overlap(terms, s, index.tokenizer.tokenize)
               for s in headed_sentences(sources[n - 1][1])}
    shared = [overlap[p] for p, _ in points]
    assert shared[0] and shared == sorted(shared, reverse=True)  # the most related first

    threshold = "类别不平衡时阈值怎么调？"  # section 15 says little about it: fill adds its other points
    hits15 = index.search(threshold, k=3)
    at = [[h.section_ref for h in hits15].index("ml_basics_qa#15") + 1]
    shown15 = prompt_sources(index, threshold, hits15, 0)
    related = key_point_target(index, threshold, hits15, shown15, at, max_points=8, max_chars=600, fill=False)
    filled = key_point_target(index, threshold, hits15, shown15, at, max_points=8, max_chars=600, fill=True)
    assert related and filled.startswith(related) and len(_points(filled)) > len(_points(related))

    both = _points(key_point_target(index, question, hits, sources, [n, 3 if n != 3 else 2], max_points=4))
    assert len({m for _, m in both}) == 2 and len(both) <= 4  # two sections share the room
    banana = index.search("banana bread recipe", k=3)
    assert key_point_target(index, "banana bread recipe", banana, prompt_sources(index, "banana", banana, 0), [1]) == ""


def test_target_points_stay_with_the_question_or_its_sub_heading():
    from assistant.training.examples import whole_points

    text = "介绍正则化的方法。\n#### 1. l2\nb 平方和作为惩罚。\n#### 2. es\nc 监控验证集性能。d 性能下降时停止训练。"
    split = lambda t: t.replace("。", " ").split()  # noqa: E731
    assert whole_points(split, text, [], {"es"}, 4, 300) == [  # every point, the related first
        "c 监控验证集性能。", "d 性能下降时停止训练。", "介绍正则化的方法。", "b 平方和作为惩罚。"]
    assert whole_points(split, text, ["c 监控验证集性能。"], {"es"}, 4, 300, related_only=True) == ["d 性能下降时停止训练。"]
    text = "#### 1. l2\nb 平方和作为惩罚。\n#### 2. 其他\nes 即提前停止训练。e 不必等到收敛。"
    assert whole_points(split, text, [], {"es"}, 4, 300) == [  # then its sub-heading's, then the rest
        "es 即提前停止训练。", "e 不必等到收敛。", "b 平方和作为惩罚。"]


def test_pair_questions_ask_two_sections_and_are_taught_to_cite_both(index, examples):
    from assistant.training.questions import pair_questions

    pairs = pair_questions(index)
    assert len(pairs) == 2 * len(index.sections) and all(p.also and p.also != p.section_ref for p in pairs)
    taught = [e for e in examples if e.kind == "pair"]  # a pair whose second source shows nothing related is left out
    assert taught and all(len({n for _, n in _points(e.target)}) == 2 for e in taught)


def test_follow_ups_answer_the_second_turn_after_a_first_turn_about_a_section(index, examples):
    from assistant.training.questions import follow_up_questions

    questions = follow_up_questions(index)
    assert {q.section_ref == q.after for q in questions} == {True, False}  # same section and another one
    taught = [e for e in examples if e.kind == "followup"]
    assert taught
    for example in taught:
        first, reply = example.messages[1:3]
        firsts = [index.sections[q.after].title.strip().rstrip("?？ ") + "？" for q in questions if q.question == example.question]
        assert first["role"] == "user" and first["content"] in firsts
        assert reply["role"] == "assistant" and reply["content"] and reply["content"] != example.target
        hits = index.search(retrieval_query(example.question, example.messages[1:3]), k=2)
        cited = {n for _, n in _points(example.target)}
        assert [hits[n - 1].section_ref for n in cited] == [example.section_ref]  # the second turn's section
    # the first turn is kept as the chat keeps it (cited) or as a user would paste it (no citations)
    assert {bool(re.search(r"\[\d\]", e.messages[2]["content"])) for e in taught} == {True, False}


def test_a_follow_up_target_does_not_say_again_what_the_first_answer_said(index, examples):
    """A second turn about the section just discussed goes on with what the first answer left out
    (an adapter taught with repeated lines opened its second answers with the first one)."""
    said_before = 0
    for example in (e for e in examples if e.kind == "followup"):
        first = {re.sub(r" ?\[\d+\]", "", line) for line in example.messages[2]["content"].splitlines()}
        assert not first & {point for point, _ in _points(example.target)}, example.question
        said_before += len(first & set(index.sections[example.section_ref].text.replace("**", "").splitlines()))
    assert said_before  # some first answers were about the follow-up's section


def test_english_questions_are_taught_with_english_answers(index, examples):
    english = [e for e in examples if e.kind == "english"]
    assert len(english) >= 17  # about one per section at least
    # English words and maths symbols (σ, λ, ∘), no Chinese
    assert not any(re.search(r"[\u4e00-\u9fff]", e.question + e.target) for e in english)
    assert all(re.search(r"\[\d\]$", line) for e in english for line in e.target.splitlines())


def test_training_questions_never_overlap_the_evaluation_sets(index):
    train = [q for q, *_ in training_questions(index)] + refusal_questions()
    for name in ("heldout.jsonl", "dev.jsonl", "refusal_fresh.jsonl", "collection_dev.jsonl",
                 "collection_heldout.jsonl", "collection_refusal_dev.jsonl"):
        held_out = [item.question for item in load_questions(REPO / "eval" / name)]
        assert overlapping(train, held_out) == [], name


def test_overlap_check_catches_copies_and_near_copies():
    held_out = ["L1正则为什么比L2正则更容易产生稀疏解？"]
    assert overlapping(["l1 正则为什么比 L2 正则更容易产生稀疏解"], held_out)  # same once normalised
    assert overlapping(["L1正则为什么比L2正则更容易得到稀疏解？"], held_out)  # one word changed
    assert overlapping(["Dropout的作用？"], held_out) == []


def test_prompt_tokens_are_masked_and_the_reply_is_learned(tiny, examples):
    _, tokenizer = load_base(tiny)
    ids, labels = encode_example(tokenizer, examples[0], max_tokens=4096)
    reply = [t for t in labels if t != IGNORE]
    assert len(ids) == len(labels) and 0 < len(reply) < len(ids)
    assert tokenizer.decode(reply).startswith(examples[0].target)
    short_ids, short_labels = encode_example(tokenizer, examples[0], max_tokens=len(reply) + 5)
    assert len(short_ids) == len(reply) + 5 and [t for t in short_labels if t != IGNORE] == reply


def test_training_lowers_the_loss_and_saves_adapter_metadata_and_curve(tiny, examples, tmp_path):
    model, tokenizer = load_base(tiny)
    data = examples[:6]
    config = LoraTrainingConfig(r=8, alpha=16, lr=1e-2, epochs=4, grad_accum=2, warmup_steps=1, dropout=0.0)
    prompt = {"k": 2, "source_chars": 0, "scope": "section", "related_share": 0.45}
    meta = train_lora(model, tokenizer, data, config, tmp_path / "adapter", eval_examples=data, progress=False,
                      prompt=prompt)
    loss = meta["heldout_reference_loss"]
    assert loss["adapter"] < loss["base"] - 0.5
    assert meta["training"]["steps"] == 12 and len(meta["training"]["losses"]) == 12
    assert meta["dataset"]["examples"] == 6 and len(meta["dataset"]["sha256"]) == 64
    saved = json.loads((tmp_path / "adapter" / "training.json").read_text("utf-8"))
    assert saved["dataset"]["prompt"] == prompt  # how to build its data again
    assert saved["settings"]["r"] == 8 and (tmp_path / "adapter" / "loss.png").stat().st_size > 1000
    assert "lm_head" not in json.dumps(json.loads((tmp_path / "adapter" / "adapter_config.json").read_text()))
    assert not hasattr(model, "peft_config") or not model.peft_config  # the caller's model is plain again

    reloaded = load_adapter(load_base(tiny)[0], tmp_path / "adapter")  # save -> load: the trained model back
    assert mean_loss(reloaded, tokenizer, data, config, "cpu") == pytest.approx(loss["adapter"], abs=1e-4)  # stored to 4 places


def test_training_counts_and_warns_about_examples_cut_to_max_tokens(tiny, examples, tmp_path, caplog):
    model, tokenizer = load_base(tiny)
    data = examples[:4]
    lengths = sorted(len(encode_example(tokenizer, e, 1 << 30)[0]) for e in data)
    config = LoraTrainingConfig(epochs=1, grad_accum=2, warmup_steps=1, max_tokens=lengths[1])  # the 2 longest cut
    with caplog.at_level("WARNING", logger="assistant.training.trainer"):
        meta = train_lora(model, tokenizer, data, config, tmp_path / "a", progress=False)
    cut = sum(n > lengths[1] for n in lengths)
    assert cut >= 1 and meta["dataset"]["cut_to_max_tokens"] == cut
    assert f"{cut} of 4 examples are longer than max_tokens" in caplog.text


def test_adapter_switch_changes_logits_and_off_equals_the_base(tiny, examples, tmp_path):
    import torch

    model, tokenizer = load_base(tiny)
    config = LoraTrainingConfig(r=4, lr=3e-3, epochs=2, grad_accum=1, warmup_steps=1, dropout=0.0)
    train_lora(model, tokenizer, examples[:3], config, tmp_path / "a", progress=False)
    ids = torch.tensor([encode_example(tokenizer, examples[0], 4096)[0]])
    with torch.inference_mode():
        base = load_base(tiny)[0](ids).logits
        first = load_adapter(load_base(tiny)[0], tmp_path / "a")
        second = load_adapter(load_base(tiny)[0], tmp_path / "a")
        on = first(ids).logits
        assert torch.equal(on, second(ids).logits)  # loading is deterministic
        assert not torch.allclose(on, base, atol=1e-4)
        with first.disable_adapter():
            assert torch.equal(first(ids).logits, base)


def test_merged_adapter_gives_the_lora_logits_and_off_is_the_base_exactly(tiny, examples, tmp_path):
    """Answering uses the adapter merged into the weights (no LoRA computation per token), switched
    by swapping weights: on matches peft's LoRA layers, off is the untouched base, back and forth."""
    import torch

    from assistant.llm.adapters import MergedAdapter

    train_small_adapter(tiny, examples, tmp_path / "a")
    ids = torch.tensor([encode_example(load_base(tiny)[1], examples[0], 4096)[0]])
    with torch.inference_mode():
        base = load_base(tiny)[0](ids).logits
        peft_logits = load_adapter(load_base(tiny)[0], tmp_path / "a")(ids).logits
        lora = MergedAdapter(load_adapter(load_base(tiny)[0], tmp_path / "a"), tmp_path / "a")
        assert not any("lora" in name for name, _ in lora.model.named_parameters())  # a plain model
        on = lora.model(ids).logits
        assert torch.allclose(on, peft_logits, atol=1e-4) and not torch.allclose(on, base, atol=1e-3)
        lora.switch(lora.model, False)
        assert torch.equal(lora.model(ids).logits, base)
        lora.switch(lora.model, True)
        assert torch.equal(lora.model(ids).logits, on)
    assert len(lora.weights) == 2 * len(TARGET_MODULES) and lora.path == str(tmp_path / "a")  # 2 layers x 7


def train_small_adapter(tiny, examples, folder) -> GenerationConfig:
    """A few steps of LoRA on three examples, saved to ``folder``; generation settings that load it."""
    model, tokenizer = load_base(tiny)
    config = LoraTrainingConfig(r=4, lr=5e-3, epochs=2, grad_accum=1, warmup_steps=1, dropout=0.0)
    train_lora(model, tokenizer, examples[:3], config, folder, progress=False)
    return GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=12, adapter=str(folder))


def test_generator_loads_an_adapter_and_can_switch_it_off(tiny, examples, tmp_path):
    settings = dataclasses.replace(train_small_adapter(tiny, examples, tmp_path / "a"), adapter="none")
    plain = TransformersChatModel.load(str(tiny), settings)
    adapted = TransformersChatModel.load(str(tiny), dataclasses.replace(settings, adapter=str(tmp_path / "a")))
    messages = examples[0].messages
    assert plain.adapter is None and adapted.adapter == str(tmp_path / "a")
    assert adapted.generate(messages, GenerationOptions(adapter=False)) == plain.generate(messages)
    with pytest.raises(FileNotFoundError, match="No LoRA adapter"):
        TransformersChatModel.load(str(tiny), dataclasses.replace(settings, adapter=str(tmp_path / "missing")))


def test_training_config_rejects_lm_head_and_bad_values():
    with pytest.raises(ValueError, match="lm_head"):
        LoraTrainingConfig(target_modules=("q_proj", "lm_head"))
    with pytest.raises(ValueError, match="r should be positive"):
        LoraTrainingConfig(r=0)


def test_reply_only_loss_equals_the_full_label_loss_and_top_layers_limit_lora(tiny, examples):
    import torch

    from assistant.training.trainer import add_lora, example_loss

    model, tokenizer = load_base(tiny)
    ids, labels = encode_example(tokenizer, examples[0], 4096)
    with torch.inference_mode():
        full = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
        assert example_loss(model, tokenizer, examples[0], 4096, "cpu").item() == pytest.approx(full.item(), rel=1e-5)
    lora = add_lora(model, LoraTrainingConfig(top_layers=1))
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert names and all(".layers.1." in n for n in names)  # only the last of the two layers


def test_default_adapter_only_goes_on_the_bundled_model(tmp_path):
    from assistant.llm.adapters import resolve_adapter
    from assistant.llm.model_files import CACHE_NAME

    shipped = REPO / "assistant" / "data" / "adapter"
    assert (shipped / "adapter_config.json").is_file() and (shipped / "training.json").is_file()
    assert resolve_adapter("default", str(tmp_path / "models" / CACHE_NAME)) == str(shipped)
    assert resolve_adapter("default", str(tmp_path / "tiny-qwen2")) is None  # another model: no adapter
    assert resolve_adapter("none", str(tmp_path / "models" / CACHE_NAME)) is None
    size = sum(f.stat().st_size for f in shipped.iterdir())
    assert size < 10 * 2**20  # a few MB


def test_static_cache_mode_keeps_the_adapter_switch(tiny, examples, tmp_path):
    """The CUDA decoding mode (static cache; compiled there, plain here): the adapter is merged into
    a copy, the switch picks a model, and both settings give the replies of the LoRA layers."""
    generator = TransformersChatModel.load(str(tiny), train_small_adapter(tiny, examples, tmp_path / "a"))
    messages = examples[0].messages
    on, off = generator.generate(messages), generator.generate(messages, GenerationOptions(adapter=False))
    assert on != off
    assert generator.try_static_cache()
    assert generator._prepared == {True}  # the default setting now, the other on first use
    merged, base = generator._static_models[True], generator._static_models[False]
    assert merged is not base and base is generator.model
    assert merged.model.embed_tokens.weight is base.model.embed_tokens.weight  # one copy of the shared weights
    name = "model.layers.0.self_attn.q_proj"
    assert merged.get_submodule(name).weight is generator.lora.weights[name][1]  # merged
    assert base.get_submodule(name).weight is generator.lora.weights[name][0]  # base
    assert generator.generate(messages) == on and generator.generate(messages, GenerationOptions(adapter=False)) == off
    assert generator._prepared == {True, False}


def test_static_cache_failure_falls_back_to_the_adapter_switch(tiny, examples, tmp_path, monkeypatch, caplog):
    generator = TransformersChatModel.load(str(tiny), train_small_adapter(tiny, examples, tmp_path / "a"))
    messages = examples[0].messages
    on, off = generator.generate(messages), generator.generate(messages, GenerationOptions(adapter=False))

    def broken(adapter):
        raise RuntimeError("compile failed")

    monkeypatch.setattr(generator, "_static_model", broken)
    assert generator.try_static_cache() is False
    assert "dynamic cache" in caplog.text and not generator.static_cache
    assert generator.generate(messages) == on and generator.generate(messages, GenerationOptions(adapter=False)) == off


def test_system_prompt_cache_is_kept_per_adapter_setting(tiny, examples, tmp_path):
    """The LoRA layers change the system prompt's keys and values: one cache per setting, and
    replies equal to those of a generator that prefills every prompt whole."""
    import torch

    settings = train_small_adapter(tiny, examples, tmp_path / "a")
    cached = TransformersChatModel.load(str(tiny), settings)
    whole = TransformersChatModel.load(str(tiny), dataclasses.replace(settings, prefix_cache=False))
    messages = examples[0].messages
    for adapter in (True, False, True):
        assert cached.generate(messages, GenerationOptions(adapter=adapter)) == whole.generate(messages, GenerationOptions(adapter=adapter))
    assert sorted(adapter for adapter, _ in cached._prefixes) == [False, True] and whole._prefixes == {}
    caches = {adapter: cache for (adapter, _), cache in cached._prefixes.items()}
    on, off = caches[True], caches[False]
    assert not torch.equal(on.layers[-1].keys, off.layers[-1].keys)


def _notes_index(tmp_path, files: dict[str, str]):
    """An object with the ``sections`` of a corpus written in the test (no index needed)."""
    from types import SimpleNamespace

    for name, text in files.items():
        (tmp_path / name).write_text(text, "utf-8")
    return SimpleNamespace(sections={s.ref: s for s in load_corpus(tmp_path).sections})


def test_refusal_examples_are_only_the_questions_whose_subject_the_corpus_never_prints(tmp_path):
    """The packaged refusal questions name their subject's terms; on a corpus that prints one of
    them (as the collection prints ROC curves) the question is not taught as a refusal."""
    from assistant.training.questions import uncovered

    notes = _notes_index(tmp_path, {"ml.md": "## 1. ROC曲线是什么？\nROC曲线以假正例率为横轴。\n\n"
                                             "## 2. 什么是逻辑回归？\n逻辑回归用sigmoid把线性输出变成概率。\n"})
    every = refusal_questions()
    kept = refusal_questions(notes)
    assert "ROC 曲线和 AUC 怎么理解？" in every and "ROC 曲线和 AUC 怎么理解？" not in kept
    assert "逻辑回归为什么用 sigmoid 函数？" not in kept
    assert "红烧肉怎么做才不腻？" in kept and len(kept) == len(every) - 2
    # a Latin term counts as a whole word only ("process" does not print "ROC")
    assert uncovered(["ROC"], "the process") and not uncovered(["roc"], "ROC曲线")


def test_a_sample_of_sections_is_spread_over_the_files_and_skips_the_held_out_ones(tmp_path):
    from assistant.training.questions import sample_sections

    def doc(n, topic):
        return "".join(f"## {i}. {topic}{i}是什么？\n{topic}{i}的答案。\n\n" for i in range(1, n + 1))

    notes = _notes_index(tmp_path, {"a.md": doc(10, "甲"), "b.md": doc(3, "乙"), "c.md": doc(2, "丙")})
    picked = sample_sections(notes, 6)
    docs = [notes.sections[ref].doc for ref in picked]
    assert len(set(picked)) == 6 and {d: docs.count(d) for d in docs} == {"a": 2, "b": 2, "c": 2}
    assert sample_sections(notes, 6) == picked and sample_sections(notes, 6, seed=1) != picked
    avoid = {"b#1", "b#2", "b#3", "c#1"}
    everything_else = sample_sections(notes, 100, avoid=avoid)
    assert len(everything_else) == 15 - 4 and not avoid & set(everything_else)


def test_training_questions_about_a_sample_stay_within_it(index):
    """A large corpus trains on a sample: a lighter set of questions, each about the sampled
    sections only (its partner in a pair, its first turn in a conversation too)."""
    sample = list(index.sections)[:6]
    light = training_questions(index, sample)
    assert {t.kind for t in light} >= {"section", "variant", "pair", "followup"}
    for t in light:
        assert t.section_ref in sample and (t.also or sample[0]) in sample and (t.after or sample[0]) in sample
    for ref in sample:
        mine = [t for t in light if t.section_ref == ref]
        assert sum(t.kind == "section" for t in mine) == 1 and sum(t.kind == "variant" for t in mine) == 1
    full = [t for t in training_questions(index) if t.section_ref in sample and t.kind in ("section", "variant")]
    assert len(full) == 4 * len(sample) > len([t for t in light if t.kind in ("section", "variant")])
    examples = build_sft_examples(index, k=2, sections=sample)
    assert examples and all(e.section_ref in sample for e in examples if e.kind != "refusal")
