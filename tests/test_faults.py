"""Fault injection on the installed product's front doors: bad config values, bad data dirs, bad
API arguments, oversized questions and histories, terminal escapes in corpus text. Each fault must
end in a clear error (exit 2 for usage, 1 otherwise, never a traceback) or be survived.

The drill store, the converted model files and the index have their own fault files
(tests/test_faults_*.py)."""

import os
import stat

import pytest

from assistant import AnswerConfig, StudyAssistant
from assistant.config import Config, ConfigError
from assistant.llm.base import ChatModel
from corpus import load_corpus
from fakes import ScriptedGenerator
from index import open_index

BAD_CONFIGS = [  # (TOML, words the error must name)
    ('[retrieval]\nk = "abc"\n', ["retrieval", "k", "integer", "'abc'"]),
    ("[retrieval]\nk = 2.5\n", ["k", "integer", "2.5"]),
    ("[retrieval]\nk = true\n", ["k", "integer", "True"]),
    ('[ui]\nport = "x"\n', ["port", "integer", "'x'"]),
    ('[llm]\ntemperature = "hot"\n', ["temperature", "number", "'hot'"]),
    ("corpus = 5\n", ["corpus", "table", "5"]),
    ("data_dir = 5\n", ["data_dir", "string", "5"]),
    ("retrieval = [1, 2]\n", ["retrieval", "table"]),
    ("[retrieval]\ncandidates = 1.5\n", ["candidates", "integer", "1.5"]),
    ("[corpus]\npath = 5\n", ["path", "string"]),
    ("[answer]\nk = 0\n", ["answer", "k should be positive"]),
    ("[ui]\nport = 70000\n", ["port", "70000"]),
    ("[llm]\ndevice = \"tpu\"\n", ["device", "tpu"]),
    ("[answer]\nrefuse_unknown_names = \"yes\"\n", ["refuse_unknown_names", "true or false"]),
    ("[nonsense]\nx = 1\n", ["unknown setting", "nonsense"]),
    ("[retrieval]\nkk = 1\n", ["unknown key", "kk"]),
    ("[retrieval\nk = 1\n", ["not valid TOML"]),
]


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)


@pytest.mark.parametrize("toml, words", BAD_CONFIGS)
def test_a_wrong_config_value_is_a_usage_error_naming_it(run, tmp_path, toml, words):
    config = tmp_path / "bad.toml"
    config.write_text(toml, "utf-8")
    code, out, err = run("search", "过拟合", "--config", str(config))
    assert code == 2 and "Traceback" not in err and err.startswith("error: ")
    assert all(word in err for word in words), err
    with pytest.raises(ConfigError):
        Config.load(config)


def test_overrides_are_type_checked_like_the_file():
    with pytest.raises(ConfigError, match="retrieval.k should be an integer, got 2.5"):
        Config().with_overrides(**{"retrieval.k": 2.5})
    with pytest.raises(ConfigError, match="unknown setting"):
        Config().with_overrides(**{"retrieval.nope": 1})
    assert Config().with_overrides(**{"llm.temperature": 1}).llm.temperature == 1.0  # an int is a number


def test_a_data_dir_that_is_a_file_or_unwritable_is_named_with_what_is_wrong(run, tmp_path):
    a_file = tmp_path / "state"
    a_file.write_text("not a folder", "utf-8")
    for command in (["search", "过拟合"], ["drill"], ["index", "build"]):
        code, _, err = run(*command, "--data-dir", str(a_file))
        assert code == 1 and "is a file, not a folder" in err and str(a_file) in err and "Traceback" not in err
        assert "--recover" not in err
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, _, err = run("search", "过拟合", "--data-dir", str(locked))
        assert code == 1 and "cannot be written" in err
    finally:
        locked.chmod(stat.S_IRWXU)


def test_a_read_only_data_dir_is_refused_before_any_work(run, tmp_path, monkeypatch):
    """As root a read-only folder is still writable, so the failed write is injected."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    code, _, err = run("search", "过拟合", "--data-dir", str(tmp_path / "ro"))
    assert code == 1 and "cannot be written (Permission denied)" in err and "Traceback" not in err


BAD_ARGUMENTS = [  # (call, error type, words the message must name)
    (lambda a: a.ask(None), TypeError, "question should be a str, got NoneType"),
    (lambda a: a.ask(123), TypeError, "question should be a str, got int"),
    (lambda a: a.ask("过拟合".encode()), TypeError, "got bytes"),
    (lambda a: a.ask("   "), ValueError, "question is empty"),
    (lambda a: a.ask("过拟合", history="hi"), TypeError, "history should be a list"),
    (lambda a: a.ask("过拟合", history=[{"role": "bot", "content": "x"}]), ValueError, "history[0]['role']"),
    (lambda a: a.ask("过拟合", history=[{"role": "user"}]), TypeError, "history[0]['content']"),
    (lambda a: a.ask("过拟合", history=["turn"]), TypeError, "history[0] should be a dict"),
    (lambda a: a.ask("过拟合", k=2.5), TypeError, "k should be an integer, got 2.5"),
    (lambda a: a.ask("过拟合", k=True), TypeError, "k should be an integer, got True"),
    (lambda a: a.ask("过拟合", k=0), ValueError, "k should be >= 1"),
    (lambda a: a.ask("过拟合", temperature="hot"), TypeError, "temperature should be a number"),
    (lambda a: a.ask("过拟合", temperature=-1), ValueError, "temperature should be >= 0"),
    (lambda a: a.ask("过拟合", adapter="yes"), TypeError, "adapter should be True, False or None"),
]


@pytest.mark.parametrize("call, error, words", BAD_ARGUMENTS)
def test_the_api_names_the_bad_argument(index, call, error, words):
    generator = ScriptedGenerator("不会被调用。")
    with pytest.raises(error) as raised:
        call(StudyAssistant(index, generator, AnswerConfig()))
    assert words in str(raised.value)
    assert generator.calls == []  # nothing reached the model


class CountingModel(ChatModel):
    """Counts prompt tokens as characters, in a small window, and says what it was given."""

    context_tokens = 3000
    max_new_tokens = 200

    def __init__(self):
        self.prompts = []

    def stream(self, messages, options=None):
        self.prompts.append(messages)
        yield "过拟合是训练好测试差 [1]。"


def test_a_huge_question_is_cut_before_search_and_the_model(index, caplog):
    model = CountingModel()
    question = "过拟合怎么办？" + "很" * 100_000
    with caplog.at_level("WARNING"):
        answer = StudyAssistant(index, model, AnswerConfig(max_question_chars=500)).ask(question)
    assert "only the first 500 are used" in caplog.text
    assert len(answer.query) <= 500 and not answer.refused
    assert model.count_tokens(model.prompts[0]) <= model.context_tokens - model.max_new_tokens


def test_a_long_history_is_trimmed_to_fit_the_window_latest_turns_kept(index):
    model = CountingModel()
    history = []
    for n in range(40):
        history += [{"role": "user", "content": f"第{n}问" + "长" * 300},
                    {"role": "assistant", "content": f"第{n}答" + "长" * 300}]
    answer = StudyAssistant(index, model, AnswerConfig()).ask("什么是过拟合？", history)
    prompt = model.prompts[0]
    assert model.count_tokens(prompt) <= model.context_tokens - model.max_new_tokens
    kept = [m["content"][:4] for m in prompt[1:-1]]
    assert kept and kept[-2:] == ["第39问", "第39答"] and "第0问" not in kept  # the oldest went first
    assert prompt[1]["role"] == "user" and not answer.refused


def test_a_model_without_opening_bans_or_adapter_switching_gets_neither(index):
    from assistant.llm.base import Capabilities

    plain = ScriptedGenerator("过拟合是训练好测试差 [1]。", capabilities=Capabilities())
    StudyAssistant(index, plain, AnswerConfig()).ask("什么是过拟合？", adapter=False)
    full = ScriptedGenerator("过拟合是训练好测试差 [1]。")
    StudyAssistant(index, full, AnswerConfig()).ask("什么是过拟合？", adapter=False)
    assert plain.options == [{}]
    assert full.options[0]["adapter"] is False and full.options[0]["forbid_openings"]


def test_terminal_escapes_in_corpus_text_are_not_printed(run, tmp_path):
    corpus = tmp_path / "evil.md"
    corpus.write_text("## 1.什么是过拟合?\n\n过拟合\x1b[2J\x1b]0;owned\x07是训练好测试差\x1b[31m。\n", "utf-8")
    code, out, _ = run("search", "过拟合", "--corpus", str(corpus))
    assert code == 0 and "过拟合" in out and "\x1b" not in out and "\x07" not in out
