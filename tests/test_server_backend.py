"""The OpenAI-compatible backend against a real engine: llama-cpp-python's server on the bundled
GGUF (tests/llama_server.py), through every front door: ask, stream, cite, refuse, follow up, the
page, the CLI, drill's judge, and the server stopped or stalled on purpose."""

import time

import pytest

from assistant.answer.pipeline import AnswerPipeline
from assistant.drill import DrillQuestion, DrillSession, DrillStore
from assistant.llm import BackendError, GenerationConfig, load_chat_model
from llama_server import MODEL_ALIAS, LlamaServer
from ui.chat import ChatHandlers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    import llama_cpp.server  # noqa: F401  missing: pip install 'llama-cpp-python[server]' (.ci/run does); fails, never skips
    from assistant.llm.export import export_model

    folder = tmp_path_factory.mktemp("engine")
    with LlamaServer(export_model(folder, progress=False), log=folder / "server.log") as server:
        yield server


def server_model(url, **settings):
    return load_chat_model(GenerationConfig(backend="openai", base_url=url, **settings), data_dir=None)


@pytest.fixture(scope="session")
def served(engine, real_assistant):
    """The real seed index and answer settings, answered by the engine."""
    return AnswerPipeline(real_assistant.index, server_model(engine.url), real_assistant.config)


def test_a_covered_question_streams_a_cited_answer_from_the_server(served):
    pieces = list(served.stream("L1正则为什么容易产生稀疏解？"))
    answer = pieces[-1]
    assert served.model.served_model() == MODEL_ALIAS
    # what streams is what passed the checks (the quotes, then the copied clauses) before the answer
    assert len(pieces) >= 2 and all(isinstance(piece, str) and piece for piece in pieces[:-1])
    assert not answer.refused and answer.citations and len(answer.draft) > 20
    assert answer.sources[0].chunk.title.startswith("L1") and "[1]" in answer.text


def test_an_uncovered_question_is_refused_and_a_follow_up_keeps_its_topic(served):
    refused = served.ask("Kubernetes 的 Pod 调度策略有哪些？")
    assert refused.refused and refused.citations == []
    first = served.ask("什么是过拟合？")
    follow = served.ask("那怎么缓解它？", [{"role": "user", "content": "什么是过拟合？"},
                                      {"role": "assistant", "content": first.text}])
    assert not follow.refused and "过拟合" in follow.query and follow.citations


def test_drill_grades_an_answer_with_the_servers_judgement(engine, real_assistant, tmp_path):
    index = real_assistant.index
    ref = next(r for r, s in index.sections.items() if s.title.startswith("L1"))
    section = index.sections[ref]
    session = DrillSession(index, server_model(engine.url), DrillStore.open(tmp_path / "d.sqlite3"), "ana",
                           judge_weight=0.5)
    result = session.submit(DrillQuestion(ref, section.number, section.title),
                            "L1正则的等值线是菱形，和损失函数的等值线常在坐标轴上相交，所以很多权重正好为0，得到稀疏解。")
    assert result.judge in (0.0, 0.5, 1.0) and not result.note


def test_the_cli_answers_through_the_server(run, engine):
    code, out, err = run("ask", "什么是过拟合？", "--base-url", engine.url, "--no-stream")
    assert code == 0 and "过拟合" in out and "Sources:" in out and "Traceback" not in err


def test_a_stalled_then_stopped_server_is_named_and_the_page_keeps_its_turns(real_assistant, tmp_path):
    from assistant.llm.export import export_model

    with LlamaServer(export_model(tmp_path, progress=False)) as server:
        pipeline = AnswerPipeline(real_assistant.index, server_model(server.url, max_retries=0), real_assistant.config)
        page = ChatHandlers(pipeline)
        *_, (_, chat, _, history) = page.respond("Dropout的作用？", [], [])
        assert len(history) == 2 and not chat[-1]["content"].startswith("⚠️")
        server.pause()
        pipeline.model = server_model(server.url, timeout_s=3, max_retries=0)  # a client that waits 3 s
        started = time.monotonic()
        *_, (_, chat, _, history) = page.respond("什么是过拟合？", chat, history)
        assert time.monotonic() - started < 30 and len(chat) == 4 and len(history) == 2
        assert server.url in chat[-1]["content"] and "did not answer within 3 s" in chat[-1]["content"]
        server.resume()
        server.stop()
        *_, (_, chat, _, history) = page.respond("什么是过拟合？", chat, history)
        assert "cannot be reached" in chat[-1]["content"] and len(chat) == 6 and len(history) == 2
        with pytest.raises(BackendError, match="connection refused"):
            pipeline.ask("什么是过拟合？")
