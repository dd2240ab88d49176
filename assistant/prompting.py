"""Prompt assembly with numbered sources, and the citations an answer makes back to them.

The system message is fixed text (``assistant/data/system_prompt.txt``): nothing from the corpus
or the user ever enters it. Sources go into the user message inside a ``<资料>`` block, numbered
[1]..[k] by section title, so corpus text cannot pose as instructions.

    >>> parse_citations("过采样 [1]，阈值调整 [2][5]。", n_sources=3)
    ([1, 2], [5])
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_CITATION = re.compile(r"[\[【]\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*[\]】]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_TAG = re.compile(r"</?\s*资料[^>]*>")


@cache
def prompt_text(name: str) -> str:
    """A prompt file shipped in ``assistant/data``."""
    return (resources.files("assistant") / "data" / name).read_text("utf-8")


def question_language(question: str) -> str:
    """"zh" when the question is mostly Chinese, else "en": "Why L1?" -> "en", "L1为什么稀疏" -> "zh"."""
    cjk = len(_CJK.findall(question))
    latin_words = len(re.findall(r"[A-Za-z]+", question))
    return "zh" if cjk and cjk >= latin_words else "en"


def refusal_text(language: str) -> str:
    """The fixed sentence a refusal answers with, in the question's language."""
    lines = dict(line.split("\t", 1) for line in prompt_text("refusal.txt").splitlines() if "\t" in line)
    return lines[language]


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


def parse_citations(text: str, n_sources: int) -> tuple[list[int], list[int]]:
    """Source numbers an answer cites, in first-cited order: (valid, invalid)."""
    valid, invalid = [], []
    for match in _CITATION.finditer(text):
        for number in re.split(r"\s*[,，、]\s*", match.group(1)):
            n = int(number)
            target = valid if 1 <= n <= n_sources else invalid
            if n not in target:
                target.append(n)
    return valid, invalid


def drop_invalid_citations(text: str, n_sources: int) -> str:
    """Remove citation marks that point at no given source: "A [1][7]" -> "A [1]" (3 sources)."""

    def keep(match: re.Match) -> str:
        numbers = [n for n in re.split(r"\s*[,，、]\s*", match.group(1)) if 1 <= int(n) <= n_sources]
        return f"[{', '.join(numbers)}]" if numbers else ""

    return _CITATION.sub(keep, text)


def _turns(history: list[dict] | None) -> list[dict]:
    """Earlier user/assistant turns, as plain role/content pairs."""
    return [{"role": t["role"], "content": t["content"]} for t in history or [] if t.get("role") in ("user", "assistant")]


def _sanitise(text: str) -> str:
    """Corpus text may not open or close the sources block."""
    return _TAG.sub("", text)
