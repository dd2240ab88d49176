"""Chat page handlers and rendering with a scripted generator (no server, no browser)."""

import logging

import pytest

from assistant import AnswerConfig, StudyAssistant
from assistant.drill.session import GRADE_WORDS
from corpus import load_corpus
from fakes import FailingGenerator, ScriptedGenerator
from index import open_index
from ui.chat import ChatHandlers, example_questions
from ui.render import answer_markdown, link_citations, sources_markdown


@pytest.fixture
def index(data_home, fake_encoder):
    return open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)


def handlers_for(index, generator, **config):
    return ChatHandlers(StudyAssistant(index, generator, AnswerConfig(**config)))


def test_link_citations_links_only_given_sources():
    assert link_citations("稀疏 [1][3]。见[2]", 2) == "稀疏 [[1]](#sa-src-1)[3]。见[[2]](#sa-src-2)"


def test_respond_streams_then_shows_linked_answer_and_sources(index):
    generator = ScriptedGenerator("鞍点是一个既不是局部最小值也不是局部最大值的点,但在某些方向上表现为最小值,"
                                  "而在其他方向上表现为最大值 [1]。")  # copied clauses: each shown as it passes
    updates = list(handlers_for(index, generator, k=2, related_share=0.0, notes_first=False).respond(
        "什么是鞍点？", [], [], k=2, temperature=0.3))
    box, chat, sources, history = updates[-1]
    assert box == "" and len(updates) > 3  # cleared input, several streamed updates
    assert [m["role"] for m in chat] == ["user", "assistant"] and chat[0]["content"] == "什么是鞍点？"
    streamed = [u[1][-1]["content"] for u in updates[1:-1]]
    assert all(a in b or a == "…" for a, b in zip(streamed, streamed[1:]))  # grows piece by piece
    final = chat[-1]["content"]
    assert final.startswith("鞍点是一个既不是局部最小值也不是局部最大值的点,但在某些方向上表现为最小值,"
                            "而在其他方向上表现为最大值 [[1]](#sa-src-1)。")
    assert "第13题 什么是机器学习中的鞍点" in final  # the cited section under the answer
    assert sources.startswith("### 本次回答的来源") and sources.count("\n#### [") == 2
    assert "#### [1] 第13题 · 什么是机器学习中的鞍点" in sources and "已引用" in sources
    assert history == [{"role": "user", "content": "什么是鞍点？"},
                       {"role": "assistant", "content": history[1]["content"]}]
    assert "[1]" in history[1]["content"] and "](#sa-src" not in history[1]["content"]  # plain text
    assert [o["temperature"] for o in generator.options] == [0.3]  # the slider reaches the model


def test_settings_k_sets_the_number_of_sources(index):
    generator = ScriptedGenerator("见资料 [1]。")
    *_, (_, _, sources, _) = handlers_for(index, generator).respond("正则化为什么能防止过拟合？", [], [], k=4)
    assert sources.count("\n#### [") == 4
    assert "[4]" in generator.calls[0][-1]["content"] and "[5]" not in generator.calls[0][-1]["content"]


def test_follow_up_uses_the_history_kept_in_the_page(index):
    generator = ScriptedGenerator("L2 让权重整体变小 [1]。")
    handlers = handlers_for(index, generator)
    *_, (_, chat, _, history) = handlers.respond("L1正则为什么容易产生稀疏解？", [], [])
    *_, (_, chat, sources, history) = handlers.respond("那L2正则呢?", chat, history)
    assert len(chat) == 4 and len(history) == 4
    assert "L1" in generator.calls[1][-3]["content"]  # the earlier turn reached the model
    assert "L2" in sources


def test_refusal_is_marked_and_lists_closest_sections(index):
    generator = ScriptedGenerator("不应被调用")
    *_, (_, chat, sources, _) = handlers_for(index, generator).respond("How long should I boil an egg?", [], [])
    assert chat[-1]["content"].startswith("**Not covered by the notes**")
    assert sources.startswith("### Not covered: closest sections")
    assert generator.calls == []


def test_empty_input_changes_nothing(index):
    generator = ScriptedGenerator("x")
    assert list(handlers_for(index, generator).respond("   ", [{"role": "user", "content": "旧"}], [])) == []
    assert generator.calls == []


def test_generation_error_becomes_a_short_message_and_the_next_question_works(index, caplog):
    assistant = StudyAssistant(index, FailingGenerator(RuntimeError("CUDA out of memory")), AnswerConfig())
    handlers = ChatHandlers(assistant)
    with caplog.at_level(logging.ERROR, logger="ui.chat"):
        *_, (_, chat, _, history) = handlers.respond("Dropout有什么作用？", [], [])
    message = chat[-1]["content"]  # the notes' key sentences came before the model failed: they stay
    assert message.startswith("资料原文要点：") and "\n\n⚠️ 生成回答时出错（RuntimeError）" in message
    assert "Traceback" not in message
    assert "CUDA out of memory" in caplog.text  # the details go to the server log
    assert history == []  # a failed turn is not remembered
    assistant.model = ScriptedGenerator("Dropout只在训练时产生作用。 [1]")
    *_, (_, chat, _, history) = handlers.respond("Dropout有什么作用？", chat, history)
    assert "⚠️" not in chat[-1]["content"] and chat[-1]["content"].startswith("资料原文要点：") and len(history) == 2


def test_clear_starts_a_new_chat():
    box, chat, sources, history = ChatHandlers.clear()
    assert (box, chat, history) == ("", [], []) and sources.startswith("### 来源")


def test_sources_keep_formulas_and_subheadings_inside_the_quote(index):
    answer = StudyAssistant(index, ScriptedGenerator("见 [1]。"), AnswerConfig(k=1)).ask("L范数有什么作用？")
    panel = sources_markdown("L范数有什么作用？", answer)
    body = panel.split("</sub>\n\n", 1)[1]
    assert all(line.startswith(">") for line in body.splitlines())
    assert "$$" in body  # LaTeX left for the page's KaTeX to render
    rendered = answer_markdown("L范数有什么作用？", answer)
    assert rendered.count("](#sa-src-1)") == answer.text.count("[1]") + 1  # each mark, and the source line


def test_example_questions_spread_over_the_corpus(index):
    sections = list(index.sections.values())
    examples = example_questions(sections, 3)
    assert len(examples) == 3 and examples[0] == "数据类别不平衡怎么处理？"
    assert examples[1].startswith(sections[6].title.rstrip("?？ "))
    assert example_questions(sections, 0) == []


def test_launch_binds_to_localhost_without_share_link_by_default():
    from assistant.config import UIConfig
    from ui import launch

    class App:
        def launch(self, **options):
            self.options = options

    app = App()
    launch(app, block=False)
    assert app.options["server_name"] == "127.0.0.1" and app.options["server_port"] == 7860
    assert app.options["share"] is False and app.options["show_error"] is False  # no tracebacks to users
    launch(app, UIConfig(host="0.0.0.0", port=8000, share=True))
    assert (app.options["server_name"], app.options["server_port"], app.options["share"]) == ("0.0.0.0", 8000, True)


def test_ui_config_rejects_bad_values():
    from assistant.config import UIConfig

    with pytest.raises(ValueError, match="port"):
        UIConfig(port=0)
    with pytest.raises(ValueError, match="concurrency"):
        UIConfig(concurrency=-1)


def test_the_page_answers_one_at_a_time_in_process_and_many_at_once_over_a_server():
    from assistant.config import SERVER_CONCURRENCY, UIConfig, answers_at_once
    from assistant.llm import GenerationConfig
    from assistant.llm.openai_backend import OpenAIChatModel

    server = OpenAIChatModel(GenerationConfig(backend="openai"))
    assert answers_at_once(UIConfig(), ScriptedGenerator("x")) == 1
    assert answers_at_once(UIConfig(), server) == SERVER_CONCURRENCY > 1
    assert answers_at_once(UIConfig(concurrency=3), server) == 3


def test_adapter_switch_reaches_the_generator(index):
    generator = ScriptedGenerator("见资料 [1]。")
    list(handlers_for(index, generator).respond("什么是鞍点？", [], [], adapter=False))
    assert generator.options[-1]["adapter"] is False


def test_drill_handlers_ask_grade_and_report_progress(index, tmp_path):
    from assistant.drill.store import DrillStore
    from ui.drill import DrillHandlers

    drill = DrillHandlers(index, None, DrillStore.open(tmp_path / "drill.sqlite3"))
    assert drill.next("  ")[1] is None  # a name is needed to keep progress
    text, question, answer, result, rows = drill.next("ana")
    assert text.startswith("### 第1题") and question["section_ref"] == "ml_basics_qa#1"
    assert rows == [["ml_basics_qa", 0, None, 0, "0/17"]]  # one chapter (the seed's one file), nothing practised
    result, rows = drill.submit("ana", question, "数据增强，过采样，损失函数的权重均衡")
    assert result.startswith("**得分") and "答到：数据增强" in result and "参考：ml_basics_qa 第1题" in result
    assert result.split("\n")[0].split("：")[1].split("**")[0] in GRADE_WORDS  # the grade in words
    assert rows == [["ml_basics_qa", 6, rows[0][2], 0, "1/17"]] and rows[0][2] > 0
    assert "下次复习：" in result and "分钟后" in result  # a first answer: FSRS's learning step
    easy, _ = drill.submit("bo", question, "数据增强", "easy")  # the learner's own rating schedules it
    assert "天后" in easy and drill.store.reviews("bo")[0]["rating"] == "easy"
    assert drill.submit("ana", None, "x")[0] == "先点击“下一题”。"


def test_drill_tab_shows_a_store_problem_instead_of_failing(index):
    from ui.drill import DrillHandlers

    drill = DrillHandlers(index, None, None, error="The drill progress file x cannot be read")
    assert drill.next("ana")[0].startswith("⚠️ The drill progress file") and drill.submit("ana", {}, "a")[1] == []
