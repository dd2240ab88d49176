"""Markdown for the chat page: answers with clickable citations, and the sources panel.

Pure functions of an ``Answer`` (no Gradio), so the page's content is tested without a server.
A citation ``[2]`` becomes the link ``[[2]](#sa-src-2)``; the page's script turns a click on it into
a jump to the heading ``[2] …`` of the sources panel.
"""

from __future__ import annotations

import re

from assistant import Answer
from assistant.citations import link_citations as link_marks
from assistant.text import question_language

ANCHOR = "sa-src-"  # href prefix of citation links: "#sa-src-2"

LABELS = {
    "zh": {
        "sources": "### 本次回答的来源",
        "closest": "### 资料未覆盖：最接近的内容（未用于回答）",
        "empty": "### 来源\n提问后，这里会列出回答所依据的资料段落；点击回答中的 [n] 可跳到对应来源。",
        "searching": "### 来源\n检索中…",
        "refused": "**资料未覆盖**",
        "cited_from": "来源",
        "question": "第{number}题",
        "score": "相关度 {score:.2f}（向量 {dense} · BM25 {bm25}）",
        "cited": " · 已引用",
    },
    "en": {
        "sources": "### Sources of this answer",
        "closest": "### Not covered: closest sections (not used for an answer)",
        "empty": "### Sources\nAsk a question: the sections behind the answer appear here; click [n] in an "
                 "answer to jump to its source.",
        "searching": "### Sources\nSearching…",
        "refused": "**Not covered by the notes**",
        "cited_from": "Sources",
        "question": "question {number}",
        "score": "relevance {score:.2f} (dense {dense} · BM25 {bm25})",
        "cited": " · cited",
    },
}


def labels(text: str = "") -> dict:
    """The label set for the language of ``text`` (Chinese unless it is plainly English)."""
    return LABELS[question_language(text) if text else "zh"]


def link_citations(text: str, n_sources: int) -> str:
    """``"稀疏 [1][3]。", 2 -> "稀疏 [[1]](#sa-src-1)[3]。"``: only numbers that name a given source
    (the citation grammar of ``assistant.citations``: ``[1, 2]`` links both)."""
    return link_marks(text, n_sources, lambda n: f"[[{n}]](#{ANCHOR}{n})")


def answer_markdown(question: str, answer: Answer) -> str:
    """What the chat shows for a finished answer: refusal marked as such; cited sections listed."""
    words = labels(question)
    if answer.refused:
        return f"{words['refused']} · {answer.text}"
    body = link_citations(answer.text, len(answer.sources))
    if not answer.citations:
        return body
    cited = " · ".join(
        f"[[{c['n']}]](#{ANCHOR}{c['n']}) {words['question'].format(number=c['section'])} {c['title']}"
        for c in answer.citations
    )
    return f"{body}\n\n<sub>{words['cited_from']}：{cited}</sub>"


def sources_markdown(question: str, answer: Answer) -> str:
    """The sources panel: per retrieved section its number, title, document, scores and text."""
    words = labels(question)
    if not answer.sources:
        return words["empty"]
    cited = {c["n"] for c in answer.citations}
    blocks = [words["closest"] if answer.refused else words["sources"]]
    for n, hit in enumerate(answer.sources, start=1):
        chunk = hit.chunk
        heading = f"#### [{n}] {words['question'].format(number=chunk.number)} · {chunk.title}"
        score = words["score"].format(score=hit.score, dense=_score(hit.dense_score), bm25=_score(hit.bm25_score))
        meta = f"<sub>{chunk.doc} · {score}{words['cited'] if n in cited else ''}</sub>"
        blocks.append(f"{heading}\n{meta}\n\n{_quote(chunk.text)}")
    return "\n\n".join(blocks)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _quote(text: str) -> str:
    """Section text as a Markdown block quote; its own headings become bold lines so they stay inside."""
    lines = []
    for line in text.strip().splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        lines.append(f"> **{heading.group(1)}**" if heading else f"> {line}" if line.strip() else ">")
    return "\n".join(lines)
