"""The chat page's handlers: plain data in, plain data out, so they are tested with a fake assistant.

``ChatHandlers(assistant).respond(message, chat, history, k, temperature)`` yields, as the answer
streams, ``(textbox value, chat messages, sources markdown, history)``; ``chat`` is what the page
shows (Markdown with linked citations), ``history`` the plain turns the assistant reads for
follow-ups.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from assistant import Answer
from assistant.llm.errors import BackendError
from assistant.text import question_language
from corpus.scopes import in_scope, normalise_scope

from ui.render import LABELS, answer_markdown, link_citations, sources_markdown

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000  # longer input is cut (as the CLI does) so one paste cannot stall the queue
FAILURE = {
    "zh": "⚠️ 生成回答时出错（{kind}），请再试一次。如果反复出现，请查看服务端日志。",
    "en": "⚠️ Something went wrong while answering ({kind}). Please try again; if it keeps happening, "
          "see the server log.",
}

Outputs = tuple[str, list[dict], str, list[dict]]


class ChatHandlers:
    """Event handlers for one assistant; shared by all browser sessions (state lives in the page)."""

    def __init__(self, assistant):
        self.assistant = assistant

    def respond(self, message: str, chat: list[dict] | None, history: list[dict] | None,
                k: float | None = None, temperature: float | None = None,
                adapter: bool | None = None, scope: list[str] | None = None) -> Iterator[Outputs]:
        """Stream one answer into the chat, from the chapters in ``scope`` (none: all of them);
        empty input changes nothing; errors become a short message."""
        question = (message or "").strip()[:MAX_QUESTION_CHARS]
        chat, history = list(chat or []), list(history or [])
        if not question:
            return
        language = question_language(question)
        words = LABELS[language]
        n_sources = int(k) if k else self.assistant.config.k
        chat += [{"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
        yield "", chat, words["searching"], history
        options = {"k": n_sources, "temperature": temperature, "adapter": adapter, "scope": scope or None}
        text, answer = "", None
        try:
            for item in self.assistant.stream(question, history, **options):
                if isinstance(item, Answer):
                    answer = item
                    break
                text += item
                chat[-1] = {"role": "assistant", "content": link_citations(text, n_sources)}
                yield "", chat, words["searching"], history
        except Exception as err:  # what came stays (the notes' key sentences come before the model)
            said = link_citations(text, n_sources) + "\n\n" if text.strip() else ""
            if isinstance(err, BackendError):  # the model server failed: say where and what
                log.warning("Answering %r failed: %s", question, err)
                chat[-1] = {"role": "assistant", "content": f"{said}⚠️ {err}"}
            else:  # the page keeps serving; the traceback goes to the server log
                log.exception("Answering %r failed", question)
                chat[-1] = {"role": "assistant", "content": said + FAILURE[language].format(kind=type(err).__name__)}
            yield "", chat, words["empty"], history
            return
        if answer is None:  # a broken assistant that ended without an Answer
            chat[-1] = {"role": "assistant", "content": FAILURE[language].format(kind="no answer")}
            yield "", chat, words["empty"], history
            return
        chat[-1] = {"role": "assistant", "content": answer_markdown(question, answer)}
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        yield "", chat, sources_markdown(question, answer), history

    @staticmethod
    def clear() -> Outputs:
        """New chat: empty chat, sources panel and history."""
        return "", [], LABELS["zh"]["empty"], []


def chapter_questions(sections, scope, n: int) -> list[str]:
    """The questions a learner can click: every question of the chosen chapters, or ``n``
    spread over the whole corpus when none is chosen."""
    scope = normalise_scope(scope)
    if not scope:
        return example_questions(sections, n)
    return [as_question(s.title) for s in sections if s.title.strip() and in_scope(s.doc, scope)]


def as_question(title: str) -> str:
    """A section title as a question to ask: ``"Dropout的作用"`` -> ``"Dropout的作用？"``."""
    title = title.strip()
    return title.rstrip("?？ ") + ("？" if not title.isascii() else "?")


def example_questions(sections, n: int) -> list[str]:
    """``n`` section titles spread over the corpus, as questions to click.

    ``titles 1..17, n=3 -> [title 1, title 7, title 13]`` (every ⌈17/3⌉-th).
    """
    titles = [section.title.strip() for section in sections if section.title.strip()]
    if not n or not titles:
        return []
    step = max(1, -(-len(titles) // n))
    return [as_question(title) for title in titles[::step][:n]]
