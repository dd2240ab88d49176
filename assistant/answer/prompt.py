"""The model's prompt: fixed system text, numbered sources, the question, the history that fits.

The system message is fixed text (``assistant/data/system_prompt.txt``): nothing from the corpus
or the user ever enters it. Sources go into the user message inside a ``<资料>`` block, numbered
[1]..[k] by section title, so corpus text cannot pose as instructions. Earlier turns go between
the two, the oldest dropped first when the prompt would not leave room for the reply
(``fit_history``).
"""

from __future__ import annotations

import re

from assistant.prompts import prompt_text, refusal_text
from assistant.text import question_language

_TAG = re.compile(r"</?\s*资料[^>]*>")


def build_messages(question: str, sources: list[tuple[str, str]], history: list[dict] | None = None) -> list[dict]:
    """Chat messages for the LLM. sources: (title, text) pairs, numbered [1].. in order.

    History turns (earlier questions and answers) go between the system message and the new
    question, without their sources.
    """
    language = question_language(question)
    system = prompt_text("system_prompt.txt").format(refusal=refusal_text(language))
    numbered = "\n\n".join(
        f"[{i}] 《{_sanitise(title)}》\n{_sanitise(text).strip()}" for i, (title, text) in enumerate(sources, start=1)
    )
    user = prompt_text("user_prompt.txt").format(
        sources=numbered, question=question.strip(), language="中文" if language == "zh" else "English",
        refusal=refusal_text(language),
    )
    return [{"role": "system", "content": system}, *_turns(history), {"role": "user", "content": user}]


def build_bare_messages(question: str, history: list[dict] | None = None) -> list[dict]:
    """Messages for the model alone, without sources (the ``--no-rag`` baseline)."""
    return [{"role": "system", "content": prompt_text("bare_system_prompt.txt")}, *_turns(history),
            {"role": "user", "content": question.strip()}]


def fit_history(build, history: list[dict], count_tokens, budget: int) -> list[dict]:
    """The messages ``build(turns)`` makes with as many of the latest ``history`` turns as keep the
    prompt within ``budget`` tokens (``count_tokens(messages)``), whole question-and-answer pairs
    first to go; with none left, the messages without history (the question itself is cut to
    ``AnswerConfig.max_question_chars`` before this).

        fit_history(lambda turns: [*turns, question], forty_long_turns, count, 30000)  # the last few
    """
    turns = _turns(history)
    messages = build(turns)
    while turns and count_tokens(messages) > budget:
        drop = 2 if len(turns) > 1 and turns[0]["role"] == "user" and turns[1]["role"] == "assistant" else 1
        turns = turns[drop:]
        messages = build(turns)
    return messages


def _turns(history: list[dict] | None) -> list[dict]:
    """Earlier user/assistant turns, as plain role/content pairs."""
    return [{"role": t["role"], "content": t["content"]} for t in history or [] if t.get("role") in ("user", "assistant")]


def _sanitise(text: str) -> str:
    """Corpus text may not open or close the sources block."""
    return _TAG.sub("", text)
