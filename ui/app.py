"""The browser chat: ``build_app(assistant) -> gr.Blocks``; ``launch(app, config)`` serves it.

    from assistant import StudyAssistant
    from ui import build_app, launch
    launch(build_app(StudyAssistant.from_config(None)))     # http://127.0.0.1:7860

Generation goes through Gradio's queue: one answer at a time for the in-process model, several
for a server that batches (``UIConfig.concurrency``); waiting users see their place in it. The page's script makes a click on a citation [n] jump to source n in the panel. The
server answers only requests whose Host header names it (``UIConfig.allowed_hosts``), so a web page
elsewhere cannot reach a loopback server through DNS rebinding.
"""

from __future__ import annotations

from assistant.config import UIConfig, answers_at_once

from corpus.scopes import chapters, outline

from ui.chat import ChatHandlers, chapter_questions
from ui.drill import EMPTY, DrillHandlers
from ui.render import LABELS

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # names of this machine a browser may use
ALL_INTERFACES = ("0.0.0.0", "::", "")  # bound here, the server has no one name to check against
HOST_REJECTED = b"Unknown Host header: open the page at its own address, or add this name to [ui] allowed_hosts.\n"

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

CSS = """
#sa-sources { max-height: 72vh; overflow-y: auto; }
#sa-sources .sa-highlight { background: #fff3bf; outline: 2px solid #f59f00; border-radius: 4px; }
#sa-outline { max-height: 60vh; overflow-y: auto; }
#sa-outline a.sa-ask { text-decoration: none; }
"""

# A click on a citation link (#sa-src-N) in the chat highlights and scrolls to "[N] …" in the panel.
JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest('a[href^="#sa-src-"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const n = link.getAttribute("href").slice("#sa-src-".length);
    const panel = document.getElementById("sa-sources");
    if (!panel) return;
    panel.querySelectorAll(".sa-highlight").forEach((el) => el.classList.remove("sa-highlight"));
    const heading = [...panel.querySelectorAll("h4")].find((h) => h.textContent.trim().startsWith(`[${n}]`));
    if (heading) {
      heading.classList.add("sa-highlight");
      heading.scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }, true);
  // A click on a question in the outline asks it: fill the input box, then press send.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("#sa-outline a.sa-ask");
    if (!link) return;
    event.preventDefault();
    const box = document.querySelector("#sa-input textarea");
    const send = document.getElementById("sa-send");
    if (!box || !send) return;
    box.value = link.dataset.question;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    setTimeout(() => send.click(), 50);
  }, true);
}
"""


def build_app(assistant, config: UIConfig | None = None, drill: DrillHandlers | None = None,
              scope: tuple[str, ...] = ()) -> "gr.Blocks":  # noqa: F821
    """The chat page over one ``StudyAssistant`` (or anything with its ``stream``/``index``/``config``),
    with a Drill tab when ``drill`` handlers are given; ``scope`` is the chapters picked at first."""
    import gradio as gr

    config = config or UIConfig()
    limit = answers_at_once(config, assistant.model)
    with gr.Blocks(title="机器学习面试复习助手 · Study assistant", analytics_enabled=False) as app:
        gr.Markdown("## 机器学习面试复习助手\n根据本地资料回答问题，并标注每句话的来源；资料里没有的内容会直说。"
                    "中文、English 均可。")
        with gr.Tabs():
            with gr.Tab("对话", id="chat"):
                _chat_tab(gr, assistant, config, limit, scope)
            if drill is not None:
                with gr.Tab("练习", id="drill", elem_id="sa-drill-tab"):
                    _drill_tab(gr, drill)
    app.queue(default_concurrency_limit=limit, max_size=config.max_queue)
    return app


def _chat_tab(gr, assistant, config: UIConfig, limit: int, scope: tuple[str, ...] = ()) -> None:
    handlers = ChatHandlers(assistant)
    sections = list(assistant.index.sections.values())
    picks = chapters(sections)
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="对话", height=540, latex_delimiters=LATEX, elem_id="sa-chat")
            with gr.Row():
                box = gr.Textbox(placeholder="输入问题，回车发送（例如：L1正则为什么容易产生稀疏解？）",
                                 show_label=False, scale=5, elem_id="sa-input", autofocus=True)
                send = gr.Button("发送", variant="primary", scale=1, elem_id="sa-send")
            new_chat = gr.Button("新对话", size="sm", elem_id="sa-new-chat")
            chosen = gr.Dropdown(picks, value=list(scope), multiselect=True, label="复习范围（不选 = 全部资料）",
                                 info="选文件夹或文件：检索、例题都只在这些章节里", elem_id="sa-scope",
                                 visible=len(picks) > 1)
            questions = gr.Dataset(components=[box], samples=_samples(sections, scope, config.examples),
                                   label="资料中的题目（点击填入）", samples_per_page=8, elem_id="sa-questions")
        with gr.Column(scale=2):
            sources = gr.Markdown(LABELS["zh"]["empty"], elem_id="sa-sources", latex_delimiters=LATEX)
            with gr.Accordion("设置", open=False):
                k = gr.Slider(1, 8, value=assistant.config.k, step=1, label="检索的来源数（top-k；远不如第一条相关的不给模型）")
                temperature = gr.Slider(0, 1.5, value=_temperature(assistant), step=0.1,
                                        label="温度（0 = 贪心解码，回答最稳定）")
                adapter_path = assistant.model.adapter if assistant.model.capabilities.adapter_switching else None
                adapter = gr.Checkbox(value=adapter_path is not None, interactive=adapter_path is not None,
                                      label="使用 LoRA 适配器（在本资料上微调）",
                                      info=f"已加载：{adapter_path}" if adapter_path else "未加载适配器",
                                      elem_id="sa-adapter")
                gr.Markdown(corpus_summary(assistant), elem_id="sa-corpus")
            with gr.Accordion("资料目录（点击题目提问）", open=False):
                gr.HTML(outline_html(sections), elem_id="sa-outline")
    history = gr.State([])
    chosen.change(lambda picked: gr.Dataset(samples=_samples(sections, picked, config.examples)),
                  chosen, questions, queue=False, api_name=False)
    questions.click(lambda sample: sample[0], questions, box, queue=False, api_name=False)
    gr.on(
        [box.submit, send.click],
        handlers.respond,
        inputs=[box, chatbot, history, k, temperature, adapter, chosen],
        outputs=[box, chatbot, sources, history],
        concurrency_limit=limit,
        concurrency_id="generate",
        api_name="respond",
    )
    new_chat.click(handlers.clear, None, [box, chatbot, sources, history], queue=False, api_name=False)


SELF_RATINGS = {"按得分": None, "忘了": "again", "吃力": "hard", "记得": "good", "轻松": "easy"}


def _drill_tab(gr, drill: DrillHandlers) -> None:
    import pandas as pd

    columns = ["章节", "已练 %", "平均得分 %", "到期", "已练 / 题数"]

    def frame(rows):
        return pd.DataFrame(rows, columns=columns)

    with gr.Row():
        learner = gr.Textbox(label="名字", placeholder="例如：ana", scale=2, elem_id="sa-learner")
        chosen = gr.Dropdown(chapters(drill.index.sections.values()), value=[], multiselect=True, scale=3,
                             label="练习范围（不选 = 全部资料）", elem_id="sa-drill-scope")
        next_button = gr.Button("下一题", variant="primary", scale=1, elem_id="sa-drill-next")
    question_md = gr.Markdown(EMPTY, elem_id="sa-drill-question")
    answer = gr.Textbox(label="你的回答", lines=4, elem_id="sa-drill-answer")
    rating = gr.Radio(list(SELF_RATINGS), value="按得分", label="自评（可选）：排下次复习时用你的自评代替得分",
                      elem_id="sa-drill-rating")
    submit = gr.Button("提交评分", elem_id="sa-drill-submit")
    result = gr.Markdown(elem_id="sa-drill-result")
    progress = gr.BarPlot(frame([]), x="章节", y="已练 %", y_lim=[0, 100], title="各章节已练题目（%）", height=280,
                          elem_id="sa-drill-progress")
    table = gr.Dataframe(frame([]), label="各章节进度", interactive=False, elem_id="sa-drill-table")
    question = gr.State(None)

    def on_next(name, scope):
        text, state, cleared, result_text, rows = drill.next(name, scope=scope)
        return text, state, cleared, result_text, frame(rows), frame(rows)

    def on_submit(name, state, text, own, scope):
        result_text, rows = drill.submit(name, state, text, SELF_RATINGS.get(own), scope=scope)
        return result_text, frame(rows), frame(rows)

    next_button.click(on_next, [learner, chosen], [question_md, question, answer, result, progress, table],
                      api_name="drill_next")
    submit.click(on_submit, [learner, question, answer, rating, chosen], [result, progress, table],
                 concurrency_id="generate", api_name="drill_submit")


def launch(app, config: UIConfig | None = None, block: bool = True):
    """Serve the page on ``config.host:config.port`` (127.0.0.1 by default; no share link unless asked),
    turning away requests for other Host names (see ``allowed_hosts``)."""
    from starlette.middleware import Middleware

    config = config or UIConfig()
    allowed = allowed_hosts(config)
    # Gradio hands app_kwargs to the FastAPI app it builds, before the server starts.
    app_kwargs = {} if allowed is None else {"middleware": [Middleware(HostCheck, allowed=allowed)]}
    return app.launch(
        server_name=config.host, server_port=config.port, share=config.share, prevent_thread_lock=not block,
        show_error=False, css=CSS, js=JS, ssr_mode=False, quiet=True, app_kwargs=app_kwargs,
    )


def allowed_hosts(config: UIConfig) -> frozenset[str] | None:
    """Host names the server answers, None for any (bound to all interfaces with no names given, or
    published through a share link, whose Host is the tunnel's):
    ``UIConfig(allowed_hosts=("Study.lan",))`` -> {"127.0.0.1", "localhost", "[::1]", "study.lan"}."""
    if config.share or (config.host in ALL_INTERFACES and not config.allowed_hosts):
        return None
    return frozenset(host_name(host) for host in (config.host, *LOCAL_HOSTS, *config.allowed_hosts))


def host_name(host: str) -> str:
    """A Host header or host without its port, lower-cased, IPv6 in brackets:
    ``"Localhost:7860"`` -> ``"localhost"``, ``"[::1]:7860"`` -> ``"[::1]"``, ``"::1"`` -> ``"[::1]"``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return f"[{host}]" if ":" in host else host


class HostCheck:
    """ASGI middleware: a request whose Host header names none of ``allowed`` gets a plain 400."""

    def __init__(self, app, allowed: frozenset[str]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            host = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), "")
            if host_name(host) not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # policy violation
                    return
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(HOST_REJECTED)).encode())]})
                await send({"type": "http.response.body", "body": HOST_REJECTED})
                return
        await self.app(scope, receive, send)


def _samples(sections, scope, n: int) -> list[list[str]]:
    return [[question] for question in chapter_questions(sections, scope, n)]


def outline_html(sections) -> str:
    """The corpus as folder -> file -> questions, each level folded (``<details>``); a question
    is a link the page's script turns into asking it."""
    from html import escape

    from ui.chat import as_question

    parts = []
    for folder in outline(sections):
        files = []
        for file in folder.files:
            items = "".join(f'<li><a class="sa-ask" href="#" data-question="{escape(as_question(title))}" '
                            f'data-ref="{escape(ref)}">{escape(heading)}</a></li>'
                            for ref, heading, title in file.questions)
            files.append(f"<details><summary>{escape(file.name)}（{len(file.questions)}）</summary>"
                         f"<ul>{items}</ul></details>")
        if folder.name:
            parts.append(f"<details><summary><b>{escape(folder.name)}</b>（{folder.n_questions} 题）</summary>"
                         f"<div style='margin-left:1em'>{''.join(files)}</div></details>")
        else:
            parts.extend(files)
    return "".join(parts)


def corpus_summary(assistant) -> str:
    """``"资料：ml_basics_qa（17 题，40 段）"``: what the answers are drawn from."""
    sections = assistant.index.sections
    docs = sorted({section.doc for section in sections.values()})
    shown = "、".join(docs[:5]) + (f" 等 {len(docs)} 个文档" if len(docs) > 5 else "")
    return f"**资料**：{shown}（{len(sections)} 题，{len(assistant.index.chunks)} 段）"


def _temperature(assistant) -> float:
    return float(assistant.model.temperature)
