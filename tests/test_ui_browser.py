"""The chat page end to end: a real server on a free port, Debian's Chromium driven by Playwright,
and five concurrent API clients. A tiny random Qwen2 answers (its synthesis is noise, so the
answer the page shows is the quoted key sentences with their citations)."""

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.config import UIConfig
from assistant.llm.settings import GenerationConfig
from assistant.llm.transformers_backend import TransformersChatModel
from assistant import AnswerConfig, StudyAssistant
from conftest import BigramEncoder
from corpus import load_corpus
from index import IndexConfig, open_index
from tiny_model import build_tiny_qwen2

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(assistant, drill_path=None):
    """Launch the page in this process (with the Drill tab when ``drill_path`` is given); returns (app, url)."""
    from assistant.drill.store import DrillStore
    from ui import DrillHandlers, build_app, launch

    config = UIConfig(port=free_port())
    drill = DrillHandlers(assistant.index, assistant.model, DrillStore.open(drill_path)) if drill_path else None
    app = build_app(assistant, config, drill)
    launch(app, config, block=False)
    return app, f"http://127.0.0.1:{config.port}/"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui-home")
    index = open_index(load_corpus("seed"), home, encoder=BigramEncoder(), progress=False,
                      config=IndexConfig(heading_encoder=""))
    model = build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))
    generator = TransformersChatModel.load(str(model), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=16))
    app, url = serve(StudyAssistant(index, generator, AnswerConfig(k=3, related_share=0.0)), home / "drill.sqlite3")
    yield url
    app.close()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("STUDY_ASSISTANT_REQUIRE_BROWSER"):  # set by .ci/run
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def ask_in_browser(page, url: str, question: str, timeout_ms: int):
    from playwright.sync_api import expect

    page.goto(url)
    box = page.locator("#sa-input textarea")
    box.fill(question)
    started = time.perf_counter()
    box.press("Enter")
    reply = page.locator("#sa-chat .message.bot, #sa-chat [data-testid='bot']").last
    expect(reply).not_to_have_text("", timeout=timeout_ms)
    first_text = time.perf_counter() - started
    expect(page.locator("#sa-sources")).to_contain_text("[1]", timeout=timeout_ms)
    return reply, first_text


def test_question_answer_sources_and_citation_click(server, browser, tmp_path):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    reply, _ = ask_in_browser(page, server, "什么是鞍点？", 60_000)
    expect(reply).to_contain_text("资料原文要点", timeout=60_000)
    sources = page.locator("#sa-sources")
    expect(sources).to_contain_text("[1] 第13题 · 什么是机器学习中的鞍点")
    expect(sources).to_contain_text("ml_basics_qa")
    page.locator('#sa-chat a[href="#sa-src-1"]').first.click()
    highlighted = page.locator("#sa-sources .sa-highlight")
    expect(highlighted).to_have_count(1)
    expect(highlighted).to_contain_text("[1] 第13题")
    assert page.url.rstrip("/") == server.rstrip("/")  # the click stayed on the page
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    assert (tmp_path / "chat.png").stat().st_size > 10_000

    page.locator("#sa-new-chat").click()  # new chat empties the conversation and the panel
    expect(page.locator("#sa-sources")).to_contain_text("提问后")
    expect(page.locator("#sa-chat a[href='#sa-src-1']")).to_have_count(0)
    page.close()


def test_example_question_fills_the_input(server, browser):
    page = browser.new_page()
    page.goto(server)
    page.get_by_text("数据类别不平衡怎么处理？").first.click()
    from playwright.sync_api import expect

    expect(page.locator("#sa-input textarea")).to_have_value("数据类别不平衡怎么处理？")
    page.close()


def test_five_concurrent_clients_all_get_answers(server):
    from gradio_client import Client

    def ask(question):
        client = Client(server, verbose=False)
        started = time.perf_counter()
        _, chat, sources = client.predict(question, [], 3, 0, False, api_name="/respond")  # the State is not in the API
        return time.perf_counter() - started, chat, sources

    questions = ["什么是鞍点？", "Dropout有什么作用？", "L1正则为什么稀疏？", "什么是PEFT？", "F1阈值怎么选？"]
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(ask, questions))
    def text(message):  # Gradio 6 sends a message's content as parts: [{"type": "text", "text": …}]
        return "".join(part["text"] for part in message["content"] if part["type"] == "text")

    for question, (_, chat, sources) in zip(questions, results):
        assert text(chat[0]) == question and chat[-1]["role"] == "assistant"
        assert "资料原文要点" in text(chat[-1]) and "⚠️" not in text(chat[-1])
        assert sources.count("\n#### [") == 3


def test_drill_tab_asks_grades_and_charts_progress(server, browser, tmp_path):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server)
    page.get_by_role("tab", name="练习").click()
    page.locator("#sa-learner textarea, #sa-learner input").first.fill("ana")
    page.locator("#sa-drill-next").click()
    expect(page.locator("#sa-drill-question")).to_contain_text("第1题", timeout=30_000)
    page.locator("#sa-drill-answer textarea").fill("采集更多少数类数据，做数据增强，过采样和欠采样，给损失函数加权重")
    page.locator("#sa-drill-submit").click()
    expect(page.locator("#sa-drill-result")).to_contain_text("得分", timeout=60_000)
    expect(page.locator("#sa-drill-result")).to_contain_text("参考：ml_basics_qa 第1题")
    expect(page.locator("#sa-drill-result")).to_contain_text("下次复习：")
    expect(page.locator("#sa-drill-table")).to_contain_text("1/17", timeout=30_000)  # per-chapter progress
    expect(page.locator("#sa-drill-progress")).to_contain_text("ml_basics_qa", timeout=30_000)  # the chart's axis
    page.screenshot(path=str(tmp_path / "drill.png"), full_page=True)
    page.close()


CHAPTER_NOTES = {
    "基础/过拟合": ["什么是过拟合？", "怎么缓解过拟合？"],
    "基础/梯度": ["什么是梯度消失？"],
    "进阶/正则化": ["L1正则为什么产生稀疏解？", "什么是权重衰减？"],
}


@pytest.fixture(scope="module")
def chapters_server(tmp_path_factory):
    """The page over notes in two folders (three files), to pick chapters on."""
    notes = tmp_path_factory.mktemp("chapter-notes")
    for doc, questions in CHAPTER_NOTES.items():
        (notes / doc).parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"## {n}.{q}\n{q.rstrip('？')}：这是资料里的回答，讲{q[:4]}的要点。\n\n"
                       for n, q in enumerate(questions, 1))
        (notes / f"{doc}.md").write_text(body, "utf-8")
    home = tmp_path_factory.mktemp("chapter-home")
    index = open_index(load_corpus(notes), home, encoder=BigramEncoder(), progress=False,
                       config=IndexConfig(heading_encoder=""))
    model = build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2-chapters"))
    generator = TransformersChatModel.load(str(model), GenerationConfig(device="cpu", cpu_dtype="float32", max_new_tokens=8))
    app, url = serve(StudyAssistant(index, generator, AnswerConfig(k=3, related_share=0.0, refuse_unknown_names=False,
                                                                   min_confidence=0.0, min_coverage=0.0)),
                     home / "drill.sqlite3")
    yield url
    app.close()


def pick_chapter(page, dropdown: str, chapter: str):
    page.locator(f"{dropdown} input").first.click()
    page.get_by_role("option", name=chapter, exact=True).click()
    page.keyboard.press("Escape")


def test_a_chapter_picked_on_the_page_narrows_questions_sources_and_drill(chapters_server, browser, tmp_path):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(chapters_server)
    examples = page.locator("#sa-questions")
    expect(examples).to_contain_text("什么是过拟合？")  # no chapter picked: questions from everywhere
    pick_chapter(page, "#sa-scope", "进阶")
    expect(examples).not_to_contain_text("什么是过拟合？", timeout=10_000)
    expect(examples).to_contain_text("L1正则为什么产生稀疏解？")
    # a question about another chapter is searched inside the picked one only
    page.locator("#sa-input textarea").fill("什么是过拟合？")
    page.locator("#sa-input textarea").press("Enter")
    sources = page.locator("#sa-sources")
    expect(sources).to_contain_text("[1]", timeout=60_000)
    expect(sources).to_contain_text("进阶/正则化")
    expect(sources).not_to_contain_text("基础/")
    # the outline: folder -> file -> question; a click asks it
    page.get_by_text("资料目录（点击题目提问）").click()
    page.locator("#sa-outline summary", has_text="基础").first.click()
    page.locator("#sa-outline summary", has_text="梯度").click()
    page.locator("#sa-outline a.sa-ask", has_text="什么是梯度消失").click()
    expect(page.locator("#sa-chat")).to_contain_text("什么是梯度消失？", timeout=30_000)
    # the drill keeps to its own chapter pick
    page.get_by_role("tab", name="练习").click()
    page.locator("#sa-learner textarea, #sa-learner input").first.fill("ana")
    pick_chapter(page, "#sa-drill-scope", "基础/梯度")
    page.locator("#sa-drill-next").click()
    expect(page.locator("#sa-drill-question")).to_contain_text("什么是梯度消失", timeout=30_000)
    page.locator("#sa-drill-answer textarea").fill("梯度消失的要点")
    page.locator("#sa-drill-rating").get_by_text("轻松").click()
    page.locator("#sa-drill-submit").click()
    expect(page.locator("#sa-drill-result")).to_contain_text("天后", timeout=60_000)  # rated easy: days away
    expect(page.locator("#sa-drill-table")).to_contain_text("1/1", timeout=30_000)
    page.locator("#sa-drill-next").click()  # the chapter's only question is done: the queue says so
    expect(page.locator("#sa-drill-question")).to_contain_text("今天的队列已完成", timeout=30_000)
    page.screenshot(path=str(tmp_path / "chapters.png"), full_page=True)
    page.close()
