"""TransformersChatModel on a tiny random Qwen2 (no download): streaming, settings, the whole pipeline."""

import pytest

from assistant.llm.base import GenerationOptions
from assistant.llm.settings import GenerationConfig, pick_device
from assistant.llm.transformers_backend import TransformersChatModel
from assistant import Answer, AnswerConfig, StudyAssistant
from corpus import load_corpus
from index import open_index
from tiny_model import build_tiny_qwen2

MESSAGES = [{"role": "system", "content": "只依据资料回答。"}, {"role": "user", "content": "什么是过拟合？"}]


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    path = build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))
    return TransformersChatModel.load(str(path), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=12))


def test_continuation_logprobs_are_the_models_own_for_each_token(tiny_generator):
    import torch

    prompt, text = "笔记：过拟合是训练好测试差。\n回答：", "过拟合是训练集好"
    scores = tiny_generator.continuation_logprobs(prompt, text)
    tok = tiny_generator.tokenizer
    prompt_ids, text_ids = tok(prompt)["input_ids"], tok(text, add_special_tokens=False)["input_ids"]
    assert len(scores) == len(text_ids) and tiny_generator.capabilities.scoring
    with torch.no_grad():  # the same from one full forward pass
        logits = tiny_generator.model(torch.tensor([prompt_ids + text_ids])).logits[0].log_softmax(-1)
    expected = [logits[len(prompt_ids) - 1 + i, t].item() for i, t in enumerate(text_ids)]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert tiny_generator.continuation_logprobs(prompt, "") == []
    with pytest.raises(ValueError, match="prompt is empty"):
        tiny_generator.continuation_logprobs("", text)


def test_stream_pieces_join_to_the_generated_text(tiny_generator):
    pieces = list(tiny_generator.stream(MESSAGES))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == tiny_generator.generate(MESSAGES)  # greedy: deterministic


def test_max_new_tokens_bounds_the_reply(tiny_generator):
    import torch

    inputs = tiny_generator.encode(MESSAGES)
    with torch.inference_mode():
        out = tiny_generator.model.generate(**inputs, **tiny_generator._decoding(GenerationOptions(max_new_tokens=5)))
    assert out.shape[1] - inputs["input_ids"].shape[1] <= 5


def test_sampling_settings_are_passed_only_when_sampling(tiny_generator):
    assert tiny_generator._decoding()["do_sample"] is False
    sampled = tiny_generator._decoding(GenerationOptions(temperature=0.7))
    assert sampled["do_sample"] is True and sampled["temperature"] == 0.7


def test_errors_in_generation_reach_the_caller(tiny_generator, monkeypatch):
    def boom(**_):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tiny_generator.model, "generate", boom)
    with pytest.raises(RuntimeError, match="out of memory"):
        list(tiny_generator.stream(MESSAGES))


def test_pipeline_with_a_real_model_object(tiny_generator, data_home, fake_encoder):
    index = open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)
    items = list(StudyAssistant(index, tiny_generator, AnswerConfig(k=2, related_share=0.0)).stream("什么是鞍点？"))
    answer = items[-1]
    assert isinstance(answer, Answer) and answer.text.startswith("".join(items[:-1]).strip()[:10])
    assert len(answer.sources) == 2 and answer.timings["first_token"] <= answer.timings["total"]
    assert all(c["n"] in (1, 2) for c in answer.citations)


def test_device_and_settings_validation():
    assert pick_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="device should be one of"):
        GenerationConfig(device="tpu")
    with pytest.raises(ValueError, match="max_new_tokens should be positive, got 0"):
        GenerationConfig(max_new_tokens=0)


def test_int8_cpu_model_generates_and_stays_close_to_fp32(tmp_path):
    import torch

    path = build_tiny_qwen2(tmp_path / "tiny", seed=1)
    fp32 = TransformersChatModel.load(str(path), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=6))
    int8 = TransformersChatModel.load(str(path), GenerationConfig(device="cpu", cpu_int8=True, max_new_tokens=6))
    assert any("Quantized" in type(m).__name__ or "quantized" in type(m).__module__ for m in int8.model.modules())
    inputs = fp32.encode(MESSAGES)
    with torch.inference_mode():
        a, b = fp32.model(**inputs).logits, int8.model(**inputs).logits
    assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99
    assert int8.generate(MESSAGES)


def test_prompt_lookup_decoding_keeps_the_greedy_reply(tmp_path):
    """Drafts copied from the prompt are only kept where greedy decoding agrees: same text either way.
    (A wider init than the default tiny model's, whose near-uniform logits would hide a difference.)"""
    import dataclasses

    path = build_tiny_qwen2(tmp_path / "tiny", initializer_range=0.3)
    generator = TransformersChatModel.load(str(path), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=40))
    assert generator.config.prompt_lookup > 0  # on by default
    assert generator._decoding()["prompt_lookup_num_tokens"] == generator.config.prompt_lookup
    messages = [{"role": "user", "content": "过拟合 过拟合 正则化 正则化 资料 问题 " * 20}]  # repetitive: drafts found
    with_lookup = generator.generate(messages)
    plain = TransformersChatModel(generator.model, generator.tokenizer, dataclasses.replace(generator.config, prompt_lookup=0), "cpu")
    assert "prompt_lookup_num_tokens" not in plain._decoding()
    assert with_lookup == plain.generate(messages) and len(set(with_lookup)) > 3


def test_a_forbidden_opening_changes_only_the_first_token(tmp_path):
    """The reply may not begin with a forbidden text's first token; later it may use it, and
    without forbidden openings the reply is the plain greedy one (with and without prompt lookup)."""
    import dataclasses

    path = build_tiny_qwen2(tmp_path / "tiny", initializer_range=0.3)
    generator = TransformersChatModel.load(str(path), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=20))
    messages = [{"role": "user", "content": "过拟合 过拟合 正则化 正则化 资料 问题 " * 20}]
    plain = generator.generate(messages)
    first = generator.tokenizer(plain, add_special_tokens=False)["input_ids"][0]
    opening = generator.tokenizer.decode([first])
    for lookup in (generator.config.prompt_lookup, 0):
        variant = TransformersChatModel(generator.model, generator.tokenizer,
                              dataclasses.replace(generator.config, prompt_lookup=lookup), "cpu")
        assert variant.generate(messages) == plain
        barred = variant.generate(messages, GenerationOptions(forbid_openings=(opening + "后面的字不算",)))
        assert barred and generator.tokenizer(barred, add_special_tokens=False)["input_ids"][0] != first


def test_a_reply_stops_at_its_first_repeated_line(tiny_generator):
    import torch

    from assistant.llm.transformers_backend import RepeatedLine

    tokenizer = tiny_generator.tokenizer
    prompt = tokenizer("问题：", add_special_tokens=False)["input_ids"]

    def stops(reply: str) -> bool:
        ids = torch.tensor([prompt + tokenizer(reply, add_special_tokens=False)["input_ids"]])
        return bool(RepeatedLine(tokenizer, len(prompt))(ids, None)[0])

    assert stops("过采样 [1]\n欠采样 [1]\n过采样 [2]\n")  # citations and spacing aside
    assert stops("过采样\n过采样\n欠采样\n")  # several lines completed in one step
    assert not stops("过采样 [1]\n欠采样 [1]\n过采样")  # the repeat is not a whole line yet
    assert not stops("过采样\n\n欠采样\n\n")  # blank lines are no repeat
    assert not stops("问题：\n过采样\n")  # the prompt does not count


def test_looping_replies_stop_only_when_configured(tiny_generator, monkeypatch):
    import dataclasses

    seen = []
    monkeypatch.setattr(tiny_generator.model, "generate", lambda **kwargs: seen.append(kwargs["stopping_criteria"]))
    tiny_generator.generate(MESSAGES)
    off = TransformersChatModel(tiny_generator.model, tiny_generator.tokenizer,
                      dataclasses.replace(tiny_generator.config, stop_repeated_line=False), "cpu")
    off.generate(MESSAGES)
    assert [[type(c).__name__ for c in criteria] for criteria in seen] == [["WhenAbandoned", "RepeatedLine"], ["WhenAbandoned"]]


def test_negative_prompt_lookup_is_rejected():
    with pytest.raises(ValueError, match="prompt_lookup"):
        GenerationConfig(prompt_lookup=-1)


def test_static_cache_decoding_keeps_the_greedy_reply_and_its_size(tmp_path):
    """The CUDA path (compiled there; plain on the CPU): one cache sized at switch-over, same text."""
    path = build_tiny_qwen2(tmp_path / "tiny", initializer_range=0.3)
    config = GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=30, static_cache_tokens=300)
    generator = TransformersChatModel.load(str(path), config)
    messages = [{"role": "user", "content": "过拟合 正则化 资料 问题 " * 4}]
    dynamic = generator.generate(messages)
    generator.use_static_cache()
    options = generator._decoding()
    assert options["cache_implementation"] == "static" and "prompt_lookup_num_tokens" not in options
    assert generator.model._previous_max_cache_length >= 299  # the warm-up's cache, reused below
    assert generator.generate(messages) == dynamic and len(set(dynamic)) > 3
    assert generator.model._previous_max_cache_length == config.static_cache_tokens - 1


def test_warm_up_keeps_dynamic_decoding_on_the_cpu(tiny_generator):
    tiny_generator.warm_up()
    assert not tiny_generator.static_cache and "cache_implementation" not in tiny_generator._decoding()


def test_static_cache_settings_are_checked():
    with pytest.raises(ValueError, match="static_cache"):
        GenerationConfig(static_cache="always")
    with pytest.raises(ValueError, match="static_cache_tokens"):
        GenerationConfig(max_new_tokens=200, static_cache_tokens=100)


def test_an_abandoned_stream_stops_generating(tmp_path):
    """A caller that stops reading (a closed chat, a new question) frees the model at once."""
    path = build_tiny_qwen2(tmp_path / "tiny", initializer_range=0.3)
    generator = TransformersChatModel.load(str(path), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=400,
                                                             prompt_lookup=0))
    generator.model.generation_config.min_new_tokens = 400  # no early end of its own
    lengths = []
    generate = generator.model.generate
    generator.model.generate = lambda **kw: lengths.append(generate(**kw).shape[1] - kw["input_ids"].shape[1])
    pieces = generator.stream(MESSAGES)
    next(pieces)
    pieces.close()
    generator.generate(MESSAGES, GenerationOptions(max_new_tokens=2))  # queued behind the first on the one generation thread
    assert lengths[0] < 400 and lengths[1] <= 2  # stopped early (400 without the stop), the next one ran


def test_the_system_prompt_cache_keeps_the_reply_and_is_reused(tmp_path):
    """Replies that start from the cached system prompt equal replies prefilled whole, with prompt
    lookup and without; the cache is computed once per system prompt and recomputed when it changes."""
    import dataclasses

    path = build_tiny_qwen2(tmp_path / "tiny", initializer_range=0.3)
    cached = TransformersChatModel.load(str(path), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=30))
    assert cached.config.prefix_cache  # on by default
    whole = TransformersChatModel(cached.model, cached.tokenizer, dataclasses.replace(cached.config, prefix_cache=False), "cpu")
    system = {"role": "system", "content": "只依据资料回答，引用编号。" * 3}
    questions = ["过拟合 正则化 资料 问题 " * 4, "什么是 Dropout？" * 3]
    for lookup in (10, 0):
        for generator in (cached, whole):
            generator.config = dataclasses.replace(generator.config, prompt_lookup=lookup)
        for question in questions:
            messages = [system, {"role": "user", "content": question}]
            reply = cached.generate(messages)
            assert reply == whole.generate(messages) and len(set(reply)) > 3
    (adapter, kept_ids), kept_cache = next(iter(cached._prefixes.items()))
    assert not adapter and whole._prefixes == {} and kept_cache.get_seq_length() == len(kept_ids)
    assert len(cached._prefixes) == 1  # one system prompt: computed once, reused
    calls = []  # (tokens fed, tokens already cached) of every forward pass

    def record(module, args, kwargs):
        cache = kwargs.get("cache")
        calls.append((kwargs["input_ids"].shape[1], cache.get_seq_length() if cache is not None else 0))

    hook = cached.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        for lookup in (10, 0):  # the first step feeds only what the cache lacks, drafting or not
            cached.config = dataclasses.replace(cached.config, prompt_lookup=lookup)
            messages = [system, {"role": "user", "content": questions[1]}]
            calls.clear()
            assert cached.generate(messages)
            prompt = cached.encode(messages)["input_ids"].shape[1]
            fed, past = calls[0]
            assert past == len(kept_ids) and prompt - past <= fed <= prompt - past + lookup
    finally:
        hook.remove()

    other = {"role": "system", "content": "Answer from the notes."}
    messages = [other, {"role": "user", "content": questions[0]}]
    assert cached.generate(messages) == whole.generate(messages)
    assert len(cached._prefixes) == 2 and cached._prefixes[(False, kept_ids)] is kept_cache  # both kept
    assert cached._system_ids([{"role": "user", "content": "hi"}], cached.encode([{"role": "user", "content": "hi"}])) is None


def test_every_generator_of_a_process_generates_on_one_thread(tiny_generator, tmp_path):
    """Compiled CUDA graphs work only on the thread that recorded them (torch 2.11), and one
    device answers one question at a time: a second generator queues on the same thread."""
    import threading

    other = TransformersChatModel(tiny_generator.model, tiny_generator.tokenizer, tiny_generator.config, "cpu")
    seen = []
    for generator in (tiny_generator, other):
        generate = generator.model.generate

        def record(*args, _generate=generate, **kwargs):
            seen.append(threading.get_ident())
            return _generate(*args, **kwargs)

        generator.model.generate = record
        try:
            generator.generate(MESSAGES, GenerationOptions(max_new_tokens=2))
        finally:
            del generator.model.generate
    assert len(seen) == 2 and seen[0] == seen[1] != threading.get_ident()


def test_a_whole_json_tokenizer_is_read_directly_with_the_same_ids(tmp_path, monkeypatch):
    """load_tokenizer skips AutoTokenizer for tokenizer classes that tokenizer.json defines whole,
    with the same ids, chat prompt and special tokens; other classes still go to AutoTokenizer."""
    import json

    from transformers import AutoTokenizer

    from assistant.llm.tokenizer import load_tokenizer

    path = build_tiny_qwen2(tmp_path / "tiny")
    settings = json.loads((path / "tokenizer_config.json").read_text())
    for name in ("TokenizersBackend", "Qwen2Tokenizer"):
        (path / "tokenizer_config.json").write_text(json.dumps({**settings, "tokenizer_class": name}))
        auto = AutoTokenizer.from_pretrained(path)
        direct = load_tokenizer(str(path))
        for text in ["过拟合 正则化 dropout", "Hello  world\t\n 鞍点 [1]", "<|im_start|>user\nhi<|im_end|>"]:
            assert direct(text)["input_ids"] == auto(text)["input_ids"]
        assert (direct.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
                == auto.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True))
        assert (direct.eos_token, direct.pad_token, direct.bos_token) == (auto.eos_token, auto.pad_token, auto.bos_token)
    seen = []
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: seen.append(a) or "auto")
    for unknown in ({"tokenizer_class": "LlamaTokenizer"}, {"extra_special_tokens": ["<|im_start|>"]},
                    {"add_prefix_space": True}):  # a class or option the direct load does not apply
        (path / "tokenizer_config.json").write_text(json.dumps({**settings, **unknown}))
        assert load_tokenizer(str(path)) == "auto"
    assert len(seen) == 3


def test_the_output_layer_gets_plain_strides_and_the_same_logits(tmp_path):
    """With frozen weights (as in a peft model), matmul cannot fold the last-position slice that
    logits_to_keep=1 makes and copied the whole output weight; the generator gives the output
    layer a plain copy of the slice instead, with the same logits."""
    import torch
    from transformers import AutoModelForCausalLM

    from assistant.llm.speedups import plain_strides_for_output_layer

    path = build_tiny_qwen2(tmp_path / "tiny")
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval().requires_grad_(False)
    seen = []
    ids = torch.randint(3, 200, (1, 9))
    with torch.inference_mode():
        before = model(ids, logits_to_keep=1).logits
        plain_strides_for_output_layer(model)
        plain_strides_for_output_layer(model)  # idempotent: one hook
        model.lm_head.register_forward_pre_hook(lambda module, args: seen.append(args[0].stride()))
        after = model(ids, logits_to_keep=1).logits
        model(ids)  # all positions: already plain, passed on as it is
    hidden = model.config.hidden_size
    assert seen == [(hidden, hidden, 1), (9 * hidden, hidden, 1)]
    assert torch.equal(before, after) and len(model.lm_head._forward_pre_hooks) == 2
    generator = TransformersChatModel(model, None, GenerationConfig(device="cpu"), "cpu")  # every generator applies it
    assert generator.model.lm_head.plain_strides
