"""The OpenAI-compatible backend over real HTTP against a scripted server (tests/openai_stub.py):
what it sends, what it streams, how the answer pipeline, the page, the CLI and drill use it, and a
clear message naming the URL for every way a server can fail. test_server_backend.py runs the same
front doors against a real engine."""

import pytest

from assistant import AnswerConfig
from assistant.answer.pipeline import AnswerPipeline
from assistant.config import Config, ConfigError
from assistant.drill import DrillQuestion, DrillSession, DrillStore
from assistant.llm import BackendError, GenerationConfig, GenerationOptions, load_chat_model
from assistant.llm.openai_backend import OpenAIChatModel
from corpus import load_corpus
from index import open_index
from llama_server import free_port
from openai_stub import StubServer
from ui.chat import ChatHandlers

MESSAGES = [{"role": "user", "content": "你好"}]


def server_model(url: str, **settings) -> OpenAIChatModel:
    return load_chat_model(GenerationConfig(backend="openai", base_url=url, **settings), data_dir=None)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there once the probe socket is closed


@pytest.fixture
def stub():
    with StubServer(reply="过拟合是模型在训练集上好、测试集上差 [1]。") as server:
        yield server


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)


def test_a_reply_streams_in_pieces_from_the_model_the_server_lists(stub):
    model = server_model(stub.url, max_new_tokens=64, temperature=0.0)
    pieces = list(model.stream(MESSAGES))
    assert len(pieces) > 3 and "".join(pieces) == stub.reply
    sent = stub.requests[-1]
    assert sent["model"] == "stub-model" and sent["stream"] is True  # "bundled": the first served model
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0.0 and "top_p" not in sent
    assert model.name == f"stub-model @ {stub.url}"
    assert model.generate(MESSAGES, GenerationOptions(temperature=0.7, max_new_tokens=5)) == stub.reply
    assert stub.requests[-1]["temperature"] == 0.7 and stub.requests[-1]["max_tokens"] == 5
    assert stub.requests[-1]["top_p"] == 0.9


def test_extra_body_sends_the_servers_own_fields_with_every_request(stub, tmp_path):
    config = tmp_path / "server.toml"
    config.write_text('[llm]\nbackend = "openai"\nextra_body = {repeat_penalty = 1.05, top_k = 20}\n', "utf-8")
    settings = Config.load(config).llm
    assert settings.extra_body == {"repeat_penalty": 1.05, "top_k": 20}
    model = load_chat_model(GenerationConfig(**{**settings.__dict__, "base_url": stub.url}), data_dir=None)
    model.generate(MESSAGES)
    sent = stub.requests[-1]
    assert sent["repeat_penalty"] == 1.05 and sent["top_k"] == 20 and sent["stream"] is True
    server_model(stub.url).generate(MESSAGES)
    assert "repeat_penalty" not in stub.requests[-1]
    config.write_text('[llm]\nextra_body = 1.05\n', "utf-8")
    with pytest.raises(ConfigError, match="extra_body should be a table"):
        Config.load(config)


def test_the_api_key_comes_from_the_named_environment_variable(stub, monkeypatch):
    monkeypatch.setenv("STUDY_SERVER_KEY", "sk-secret")
    server_model(stub.url, api_key_env="STUDY_SERVER_KEY").generate(MESSAGES)
    monkeypatch.delenv("STUDY_SERVER_KEY")
    server_model(stub.url, api_key_env="STUDY_SERVER_KEY").generate(MESSAGES)
    assert stub.keys == ["Bearer sk-secret", "Bearer no-key"]


def test_a_served_adapter_is_a_model_name_each_call_can_use_or_not(stub):
    model = server_model(stub.url, adapter="study")
    assert model.capabilities.adapter_switching and not model.capabilities.opening_bans
    assert not model.capabilities.prompt_lookup
    model.generate(MESSAGES)
    model.generate(MESSAGES, GenerationOptions(adapter=False))
    assert [r["model"] for r in stub.requests] == ["study", "stub-model"]
    assert not server_model(stub.url, adapter="none").capabilities.adapter_switching


def test_a_reply_that_starts_repeating_a_line_is_stopped(stub):
    stub.reply = "第一行\n第二行\n第一行\n第三行\n" + "很长的尾巴" * 50
    text = server_model(stub.url).generate(MESSAGES)
    assert text.startswith("第一行\n第二行\n第一行") and "第三行" not in text and "尾巴" not in text
    assert server_model(stub.url, stop_repeated_line=False).generate(MESSAGES) == stub.reply


def test_the_pipeline_answers_cites_and_refuses_through_a_server(stub, index):
    pipeline = AnswerPipeline(index, server_model(stub.url), AnswerConfig())
    answer = pipeline.ask("什么是过拟合？")
    assert not answer.refused and answer.citations and answer.text.startswith("资料原文要点：\n> ")  # the notes first
    assert answer.text.endswith("\n\n归纳：\n过拟合是模型在训练集上好、测试集上差 [1]。")
    sent = stub.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "过拟合" in sent[-1]["content"]  # the sources went to the server
    follow = pipeline.ask("那怎么解决？", [{"role": "user", "content": "什么是过拟合？"},
                                     {"role": "assistant", "content": answer.text}])
    assert not follow.refused and len(stub.requests) == 2
    refused = pipeline.ask("Kubernetes 的 Pod 调度策略有哪些？")
    assert refused.refused and len(stub.requests) == 2  # the gate refuses before any request


def test_with_the_served_models_tokenizer_a_confident_answer_bars_the_refusal_through_logit_bias(
        stub, index, tmp_path):
    from tiny_model import build_tiny_qwen2

    folder = build_tiny_qwen2(tmp_path / "tiny")
    model = server_model(stub.url, server_tokenizer=str(folder))
    tokenizer = model.tokenizer()
    zh, en = (tokenizer("资料中没有涉及这个问题。", add_special_tokens=False)["input_ids"],
              tokenizer("The study notes do not cover this question.", add_special_tokens=False)["input_ids"])
    assert model.capabilities.opening_bans and zh[0] != en[0]
    pipeline = AnswerPipeline(index, model, AnswerConfig())
    assert not pipeline.ask("什么是过拟合？").refused
    assert stub.requests[-1]["logit_bias"] == {str(zh[0]): -100}
    english = tokenizer.decode(en[:1])  # a plain English word: barring it would bar it from the whole reply
    assert english.strip().isalpha() and pipeline.ask("What is overfitting?")
    assert stub.requests[-1]["logit_bias"] == {str(zh[0]): -100}
    plain = AnswerPipeline(index, server_model(stub.url), AnswerConfig())
    assert not plain.model.capabilities.opening_bans
    plain.ask("什么是过拟合？")
    assert "logit_bias" not in stub.requests[-1]
    unsure = AnswerPipeline(index, model, AnswerConfig(answer_when_confident=False))
    unsure.ask("什么是过拟合？")
    assert "logit_bias" not in stub.requests[-1]  # a refusal may be the answer: nothing barred
    with pytest.raises(BackendError, match="server_tokenizer = '/no/such/folder'"):
        list(server_model(stub.url, server_tokenizer="/no/such/folder").stream(MESSAGES, GenerationOptions(
            forbid_openings=("资料中没有涉及这个问题。",))))


def test_a_rate_limited_or_busy_server_is_retried_with_backoff(stub):
    stub.script = ["429", "503", "ok"]
    assert server_model(stub.url, max_retries=2).generate(MESSAGES) == stub.reply
    assert len(stub.requests) == 3


FAULTS = [  # (script, settings, words the message must hold, requests made)
    (["503"] * 3, {"max_retries": 2}, ["HTTP 503", "scripted 503"], 3),
    (["400"], {}, ["HTTP 400", "scripted 400"], 1),
    (["401"], {"api_key_env": "STUDY_SERVER_KEY"}, ["refused the API key", "STUDY_SERVER_KEY"], 1),
    (["malformed"], {}, ["not an OpenAI-compatible stream"], 1),
    (["truncated"], {}, ["before it finished", "cut"], 1),
    (["error event"], {}, ["reported an error in the middle of the reply", "CUDA out of memory"], 1),
    (["stall"], {"timeout_s": 0.5, "max_retries": 0}, ["did not answer within 0.5 s"], 1),
    (["stall after headers"], {"timeout_s": 0.5, "max_retries": 0}, ["did not answer within 0.5 s"], 1),
]


@pytest.mark.parametrize("script, settings, words", [f[:3] for f in FAULTS])
def test_each_server_fault_is_a_message_naming_the_url(stub, script, settings, words):
    stub.script = list(script)
    with pytest.raises(BackendError) as caught:
        server_model(stub.url, **settings).generate(MESSAGES)
    message = str(caught.value)
    assert stub.url in message and all(word in message for word in words), message
    expected = next(f[3] for f in FAULTS if f[0] == script and f[1] == settings)
    assert len(stub.requests) == expected


def test_an_unknown_served_model_name_says_how_to_list_them(stub):
    with pytest.raises(BackendError, match=r"HTTP 404.*does not exist.*GET .*/models"):
        server_model(stub.url, model="qwen-72b").generate(MESSAGES)


def test_a_server_that_is_down_is_named_and_nothing_is_retried_forever():
    url = closed_port_url()
    with pytest.raises(BackendError, match="cannot be reached.*connection refused.*base_url") as caught:
        server_model(url, max_retries=1).generate(MESSAGES)
    assert url in str(caught.value)


def test_the_page_keeps_every_earlier_turn_when_the_server_fails(stub, index):
    pipeline = AnswerPipeline(index, server_model(stub.url, max_retries=0), AnswerConfig())
    handlers = ChatHandlers(pipeline)
    *_, (box, chat, sources, history) = handlers.respond("什么是过拟合？", [], [])
    assert len(chat) == 2 and len(history) == 2
    stub.script = ["500"]
    earlier = [dict(turn) for turn in chat]
    *_, (box, chat, sources, history) = handlers.respond("Dropout的作用？", chat, history)
    assert len(chat) == 4 and chat[:2] == earlier and len(history) == 2  # the failed turn is not history
    failed = chat[-1]["content"]  # the notes' key sentences, shown before the model was asked, then why it failed
    assert failed.startswith("资料原文要点：") and "\n\n⚠️" in failed and stub.url in failed and "HTTP 500" in failed
    stub.script = ["truncated"]
    *_, (box, chat, sources, history) = handlers.respond("Dropout的作用？", chat, history)
    assert "过拟合是模型" in chat[-1]["content"] and "cut" in chat[-1]["content"]  # what came is kept, then why
    *_, (box, chat, sources, history) = handlers.respond("Dropout的作用？", chat, history)
    assert len(chat) == 8 and len(history) == 4 and not chat[-1]["content"].startswith("⚠️")


def test_drill_grades_with_the_servers_judgement_and_by_key_points_when_it_is_down(stub, index, tmp_path):
    store = DrillStore.open(tmp_path / "drill.sqlite3")
    ref = next(iter(index.sections))
    section = index.sections[ref]
    question = DrillQuestion(section_ref=ref, number=section.number, title=section.title)
    stub.reply = "2"
    judged = DrillSession(index, server_model(stub.url), store, "ana", judge_weight=0.5).submit(question, "过拟合 正则化")
    assert judged.judge == 1.0 and not judged.note and "学生的回答" in stub.requests[-1]["messages"][0]["content"]
    down = DrillSession(index, server_model(closed_port_url(), max_retries=0), store, "ana", judge_weight=0.5)
    result = down.submit(question, "过拟合 正则化")
    alone = DrillSession(index, None, store, "bo").submit(question, "过拟合 正则化")  # graded without a model
    assert result.judge is None and result.score == alone.score and "cannot be reached" in result.note
    assert len(store.review_history("ana")) == 2  # both answers recorded


def test_the_cli_says_which_server_failed_without_a_traceback(run):
    url = closed_port_url()
    code, out, err = run("ask", "什么是过拟合？", "--base-url", url)
    assert code == 1 and f"error: Could not list its models: the model server at {url}" in err and "Traceback" not in err


def test_backend_settings_are_checked():
    with pytest.raises(ConfigError, match="backend should be one of"):
        Config.from_dict({"llm": {"backend": "vllm"}})
    with pytest.raises(ConfigError, match="base_url should start with http"):
        Config.from_dict({"llm": {"backend": "openai", "base_url": "gpu-box:8000"}})
    with pytest.raises(ConfigError, match="timeout_s"):
        Config.from_dict({"llm": {"timeout_s": 0}})
    config = Config.from_dict({"llm": {"backend": "openai", "base_url": "https://llm.lan/v1", "model": "m"}})
    assert config.llm.backend == "openai" and config.ui.concurrency == 0


def test_doctor_checks_the_server_and_the_names_it_serves(run, stub):
    code, out, err = run("doctor", "--base-url", stub.url)
    assert code == 0 and f"ok    model server: {stub.url} serves stub-model" in out
    code, out, err = run("doctor", "--base-url", stub.url, "--adapter", "study-other")
    assert code == 1 and "FAIL  served names: 'study-other' not among them" in out
    code, out, err = run("doctor", "--base-url", stub.url, "--adapter", "stub-model:study")  # SGLang's naming
    assert code == 0 and "FAIL" not in out
    code, out, err = run("doctor", "--base-url", closed_port_url())
    assert code == 1 and "FAIL  model server: Could not list its models" in out


def test_chat_in_the_terminal_says_what_failed_and_goes_on_with_the_conversation(run, stub, monkeypatch):
    asked = iter(["什么是过拟合？", "Dropout的作用？", "那怎么解决？"])

    def typed(prompt=""):
        try:
            return next(asked)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", typed)
    stub.script = ["ok", "400", "ok"]
    code, out, err = run("chat", "--base-url", stub.url)
    assert code == 0 and "HTTP 400" in err and stub.url in err and "Traceback" not in err
    last = stub.requests[-1]["messages"]
    turns = [m["content"] for m in last if m["role"] in ("user", "assistant")]
    assert "什么是过拟合？" in turns and not any("Dropout" in t for t in turns[:-1])  # the failed turn left no trace


def test_the_drill_tab_uses_the_judge_its_settings_ask_for(stub, index, tmp_path):
    from assistant.config import DrillConfig
    from ui.drill import DrillHandlers

    stub.reply = "1"
    ref = next(iter(index.sections))
    section = index.sections[ref]
    question = DrillQuestion(section_ref=ref, number=section.number, title=section.title).__dict__
    store = DrillStore.open(tmp_path / "drill.sqlite3")
    judged = DrillHandlers(index, server_model(stub.url), store, settings=DrillConfig(judge_weight=0.5))
    text, rows = judged.submit("ana", question, "过拟合 正则化")
    assert "模型评分 50%" in text and len(stub.requests) == 1
    text, rows = DrillHandlers(index, server_model(stub.url), store).submit("ana", question, "过拟合")
    assert "模型评分" not in text and len(stub.requests) == 1  # judge_weight 0 (default): no request
    with pytest.raises(ConfigError, match="judge_weight"):
        Config.from_dict({"drill": {"judge_weight": 1.5}})
