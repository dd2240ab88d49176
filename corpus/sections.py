"""Parse one Q&A document into numbered question sections.

Two heading styles are understood (see ARCHITECTURE.md):

- seed style, markdown headings:   ``## 7.如何找到让F1最高的分类阈值?``
- repo style, HTML headings:       ``<h2 id="7.…">7.如何找到让F1最高的分类阈值？</h2>``

A document is repo style when it has at least one numbered ``<h1>``–``<h3>`` heading; then only
those start questions and markdown headings are sub-headings. Otherwise numbered markdown headings
of level 1–3 start questions. Everything else (``####`` headings, unnumbered headings, lists,
formulas, code) stays inside the question above it. Text before the first question (the ``目录``
table of contents, a preface) is not part of any question. Lines inside code fences are never
headings.

    >>> [(s.number, s.title) for s in parse_sections("## 目录\\n- 1.A?\\n## 1.A?\\nx\\n#### 注\\ny", "d")]
    [('1', 'A?')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# "7.标题", "7、标题", "7．标题" — a number that is not the start of a decimal like "2.5D".
_NUMBERED = re.compile(r"^\s*(?:\*\*)?\s*(\d{1,4})\s*[.、．](?!\d)\s*(.*?)\s*(?:\*\*)?\s*$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$|^(#{1,6})(\d.*?)\s*$")
_HTML_HEADING = re.compile(r"^\s*<h([1-6])\b[^>]*>(.*?)</h\1>\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
# Presentational HTML in answer text: keep the words, drop the markup. Images carry no text.
_IMG = re.compile(r"<img\b[^>]*>|!\[[^\]]*\]\([^)]*\)", re.IGNORECASE)
_INLINE_TAG = re.compile(
    r"</?(?:font|div|span|p|br|center|b|strong|i|em|u|sup|sub|a|hr)\b[^>]*>", re.IGNORECASE
)
_TOC_TITLE = re.compile(r"^\s*目\s*录\s*$")
_MAX_LEVEL_FOR_QUESTION = 3


@dataclass(frozen=True)
class Section:
    """One numbered question and its answer, identified by (doc, number)."""

    doc: str  # document id: the file's path relative to the corpus root, without suffix
    number: str  # question number as printed, e.g. "7"
    title: str  # heading text without the number, e.g. "如何找到让F1最高的分类阈值?"
    text: str  # answer body: markdown with formulas and code intact, presentational HTML removed
    heading_path: tuple[str, ...] = field(default=())  # group headings above it, then its own
    occurrence: int = 1  # 2 for the second question printed with the same number in this doc

    @property
    def ref(self) -> str:
        """Unique key ``"<doc>#<number>"`` (``"<doc>#<number>-2"`` for a repeated number)."""
        suffix = "" if self.occurrence == 1 else f"-{self.occurrence}"
        return f"{self.doc}#{self.number}{suffix}"

    @property
    def heading(self) -> str:
        """The heading as printed: ``"7.如何找到让F1最高的分类阈值?"``."""
        return f"{self.number}.{self.title}"


@dataclass
class _Heading:
    level: int  # 1 for "#" or <h1>, 2 for "##" or <h2>, …
    text: str  # heading text without its number and markup
    number: str | None  # "7" for "7.标题", None for an unnumbered heading
    line: int  # 0-based line index in the document
    html: bool  # written as <hN>…</hN> rather than "#"


def parse_sections(text: str, doc: str) -> list[Section]:
    """Split a document's text into its numbered question sections, in document order."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    headings = _find_headings(lines)
    html_style = any(h.html and h.number and h.level <= _MAX_LEVEL_FOR_QUESTION for h in headings)
    headings = [h for h in headings if h.html == html_style]
    by_line = {h.line: h for h in headings}
    numbered = [h for h in headings if h.number is not None and h.level <= _MAX_LEVEL_FOR_QUESTION]
    # A numbered heading with nothing under it but deeper numbered headings ("1.RAG应用" over
    # "1.RAG文档召回率是什么？") groups questions: it is part of their path, not a question.
    def only_headings_between(a: int, b: int) -> bool:
        return not any(lines[i].strip() and i not in by_line for i in range(a + 1, b))

    groups = {
        h.line
        for h, following in zip(numbered, numbered[1:])
        if following.level > h.level and only_headings_between(h.line, following.line)
    }

    # A question's block begins at its heading, or earlier at group headings that lead straight
    # into it (unnumbered ones such as "第二部分：…" too); it ends where the next block or a
    # 目录 heading begins.
    blocks = []
    open_groups: list[_Heading] = []
    for start in numbered:
        open_groups = [g for g in open_groups if g.level < start.level]
        if start.line in groups:
            open_groups.append(start)
            continue
        first, leading = start.line, []
        i = start.line - 1
        while i >= 0 and (not lines[i].strip() or _leads_into(by_line.get(i), start, groups)):
            if lines[i].strip():
                if by_line[i].number is None:
                    leading.insert(0, by_line[i].text)
                first = i
            i -= 1
        path = tuple(f"{g.number}.{g.text}" for g in open_groups) + tuple(leading)
        blocks.append((first, start, path))
    tocs = {h.line for h in headings if h.number is None and _TOC_TITLE.match(h.text)}
    ends = sorted({first for first, _, _ in blocks} | tocs | {len(lines)})

    sections = []
    seen: dict[str, int] = {}
    for first, start, group in blocks:
        seen[start.number] = seen.get(start.number, 0) + 1
        end = next(e for e in ends if e > start.line)
        sections.append(
            Section(
                doc=doc,
                number=start.number,
                title=start.text,
                text=_clean_body(lines[start.line + 1 : end]),
                heading_path=group + (f"{start.number}.{start.text}",),
                occurrence=seen[start.number],
            )
        )
    return sections


def _leads_into(heading: _Heading | None, question: _Heading, groups: set[int]) -> bool:
    """A higher-level heading right above a question that introduces it rather than ends the
    previous answer: an unnumbered one, or a numbered group heading."""
    if heading is None or heading.level >= question.level:
        return False
    return heading.number is None or heading.line in groups


def _find_headings(lines: list[str]) -> list[_Heading]:
    """Every markdown or HTML heading outside code fences, in document order."""
    found = []
    for i, line in _lines_outside_fences(lines):
        level_and_raw = _parse_heading_line(line)
        if level_and_raw is None:
            continue
        level, raw, html = level_and_raw
        text, number = _split_number(_strip_markup(raw))
        found.append(_Heading(level, text, number, i, html))
    return found


def _parse_heading_line(line: str) -> tuple[int, str, bool] | None:
    """``"<h2 id=x>7.A</h2>"`` -> ``(2, "7.A", True)``; ``"### B"`` -> ``(3, "B", False)``."""
    html = _HTML_HEADING.match(line)
    if html:
        return int(html.group(1)), html.group(2), True
    md = _MD_HEADING.match(line)
    if md:
        hashes = md.group(1) or md.group(3)
        return len(hashes), md.group(2) if md.group(1) else md.group(4), False
    return None


def _lines_outside_fences(lines: list[str]):
    """Yield (index, line) for lines that are not inside (or delimiting) a code fence."""
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            yield i, line


def _split_number(raw: str) -> tuple[str, str | None]:
    """``"7.标题"`` -> ``("标题", "7")``; unnumbered text -> ``(text, None)``."""
    match = _NUMBERED.match(raw)
    if not match:
        return raw.strip(), None
    return match.group(2), match.group(1)


def _strip_markup(raw: str) -> str:
    return _TAG.sub("", raw).replace("**", "").strip()


def _clean_body(lines: list[str]) -> str:
    """Markdown body: HTML sub-headings become ``#`` headings, presentational HTML and images go;
    code fences and formulas stay exactly as written."""
    out = list(lines)
    for i, line in _lines_outside_fences(lines):
        heading = _parse_heading_line(line)
        if heading and heading[2]:
            line = "#" * heading[0] + " " + _strip_markup(heading[1])
        out[i] = _INLINE_TAG.sub("", _IMG.sub("", line)).rstrip()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
