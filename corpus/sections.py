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

Heading numbers:

- ``6.1 小节`` and ``3.1. 参数`` are decimal sub-headings; ``1.3D数据的表示`` and ``6.1*1卷积的作用``
  are questions 1 and 6 when that number continues the numbering of the questions before them.
- An HTML heading whose ``id`` starts with another number than the printed one takes the id's
  number (``<h2 id="12.…">11.…</h2>`` is question 12), and the id's title when the printed title
  only repeats the previous question's.

A table of contents (list items linking to numbered titles, ``- [7.标题](#…)``, before the first
question) is read as the document's outline, matching titles with spaces, punctuation and case
ignored:

- a TOC entry with children is a group (``1.RAG应用`` over ``1.RAG文档召回率是什么？``) when its
  sibling entries have children too; otherwise it is a question and its children are sub-items;
- a TOC question that no numbered heading carries but an unnumbered heading does (``#### 标准化：``)
  is a question with the TOC's number;
- a numbered heading deeper than the question above it that the TOC lists neither as a question nor
  as a group is a sub-heading of that question;
- a question whose title the TOC lists only under another number (a number printed twice,
  ``17.…`` for ``18.…``) takes that number when no other question of its group has it, and a
  question repeating the previous question's title takes the title the TOC gives its number.

Documents without a table of contents are split by their headings alone.

    >>> [(s.number, s.title) for s in parse_sections("## 目录\\n- 1.A?\\n## 1.A?\\nx\\n#### 注\\ny", "d")]
    [('1', 'A?')]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

# "7.标题", "7、标题", "7．标题"; a digit right after the separator is handled by _split_number.
_NUMBERED = re.compile(r"^\s*(?:\*\*)?\s*(\d{1,4})\s*[.、．]\s*(.*?)\s*(?:\*\*)?\s*$")
_GLUED_DIGIT = re.compile(r"^\s*(?:\*\*)?\s*\d{1,4}\s*[.、．]\d")
# What follows "6." in a decimal section number ("6.1 小节", "6.1小节", "3.1. 参数", "6.1"): digits,
# then the end, a space, a separator, a Chinese character or a CJK / full-width punctuation mark.
_DECIMAL_TAIL = re.compile(r"^\d+(?:$|[\s.、．\u3000-\u303f\u4e00-\u9fff\uff01-\uff20])")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$|^(#{1,6})(\d.*?)\s*$")
# Quoted attribute values may contain ">" (id="30.#include<file.h>…"); an unclosed quote falls
# back to the first ">".
_HTML_HEADING = re.compile(
    r"""^\s*<h([1-6])\b((?:"[^"]*"|'[^']*'|[^'">])*)>(.*?)</h\1>\s*$""", re.IGNORECASE
)
_HTML_HEADING_LOOSE = re.compile(r"^\s*<h([1-6])\b([^>]*)>(.*?)</h\1>\s*$", re.IGNORECASE)
_ID_NUMBER = re.compile(r"""\bid\s*=\s*["']?\s*(\d{1,4})\s*[.、．]([^"'>]*)""", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
# Presentational HTML in answer text: keep the words, drop the markup. Images carry no text.
_IMG = re.compile(r"<img\b[^>]*>|!\[[^\]]*\]\([^)]*\)", re.IGNORECASE)
_INLINE_TAG = re.compile(
    r"</?(?:font|div|span|p|br|center|b|strong|i|em|u|sup|sub|a|hr)\b[^>]*>", re.IGNORECASE
)
_TOC_TITLE = re.compile(r"^\s*目\s*录\s*$")
# "- [7.标题](#7.标题)", indented under a group entry; a few entries lack the list marker.
_TOC_ENTRY = re.compile(r"^(\s*)(?:[-*+]\s*)?\[(.*?)\]\(")
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

    @property
    def heading_text(self) -> str:
        """What retrieval matches questions against besides the text: the group headings above the
        question, then its title, each once (``"分类模型 如何找到让F1最高的分类阈值?"``)."""
        return " ".join(dict.fromkeys([*self.heading_path[:-1], self.title]))

    def lead_text(self, chars: int) -> str:
        """The question's title and the opening of its answer, ``chars`` characters in all, without
        display formulas, code blocks, images or HTML tags: what most answers define first
        (``"什么是过拟合？ 过拟合是指模型在训练集上表现很好…"``)."""
        body = re.sub(r"\$\$.*?\$\$|```.*?```|!\[.*?\]\(.*?\)|<[^>]+>", " ", self.text, flags=re.S)
        body = re.sub(r"\s+", " ", body).strip()
        return f"{self.title} {body}"[:chars].strip()


@dataclass(frozen=True)
class _Heading:
    level: int  # 1 for "#" or <h1>, 2 for "##" or <h2>, …
    text: str  # heading text without its number and markup
    number: str | None  # "7" for "7.标题", None for an unnumbered heading
    line: int  # 0-based line index in the document
    html: bool  # written as <hN>…</hN> rather than "#"
    printed: str = ""  # the whole heading text, number included, markup removed
    glued: bool = False  # a digit follows the number ("1.3D数据"): a question only in sequence
    id_number: str | None = None  # number the HTML id starts with ("12" for id="12.…")
    id_title: str = ""  # the rest of that id


@dataclass
class _Toc:
    """A document's table of contents, by title key (see _title_key)."""

    questions: list[tuple[str, str]]  # (number, title) of the question entries, in order
    question_keys: dict[str, set[str]]  # title key -> numbers the TOC gives questions of that title
    group_keys: set[str]  # title keys of group entries
    titles_by_number: dict[str, list[str]] = field(default_factory=dict)  # number -> question titles

    def lists(self, title: str) -> bool:
        """Whether the TOC names this title as a question or a group (sub-items don't count)."""
        key = _title_key(title)
        return key in self.question_keys or key in self.group_keys


def parse_sections(text: str, doc: str) -> list[Section]:
    """Split a document's text into its numbered question sections, in document order."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    headings, toc = _document_headings(lines)
    by_line = {h.line: h for h in headings}
    numbered = [h for h in headings if h.number is not None and h.level <= _MAX_LEVEL_FOR_QUESTION]

    def only_headings_between(a: int, b: int) -> bool:
        return not any(lines[i].strip() and i not in by_line for i in range(a + 1, b))

    numbered, groups = _outline(numbered, only_headings_between, toc)
    blocks = _blocks(lines, numbered, by_line, groups)
    if toc:
        blocks = _corrected_by_toc(blocks, toc)
    tocs = {h.line for h in headings if h.number is None and _TOC_TITLE.match(h.text)}
    ends = sorted({block.first for block in blocks} | tocs | {len(lines)})

    sections = []
    seen: dict[str, int] = {}
    for block in blocks:
        start = block.start
        seen[start.number] = seen.get(start.number, 0) + 1
        end = next(e for e in ends if e > start.line)
        sections.append(
            Section(
                doc=doc,
                number=start.number,
                title=start.text,
                text=_clean_body(lines[start.line + 1 : end]),
                heading_path=block.path + (f"{start.number}.{start.text}",),
                occurrence=seen[start.number],
            )
        )
    return sections


@dataclass(frozen=True)
class _Block:
    """Where one question's lines begin, its heading, and the groups it sits in."""

    first: int  # first line: the heading, or a group heading leading straight into it
    start: _Heading  # the question's own heading
    path: tuple[str, ...]  # group headings above it, as printed
    group: tuple[int, ...]  # lines of the numbered group headings it sits in


def _document_headings(lines: list[str]) -> tuple[list[_Heading], _Toc | None]:
    """The headings of the document's style (HTML or markdown), numbers resolved, and its table
    of contents if it has one."""
    every = _numbers_from_ids(_find_headings(lines))
    html_style = any(h.html and h.number and h.level <= _MAX_LEVEL_FOR_QUESTION for h in every)
    headings = _resolve_glued_numbers([h for h in every if h.html == html_style])
    toc = _read_toc(lines, _first_question_line(headings, len(lines)))
    if toc:
        headings = _promote_toc_questions(headings, every, toc, html_style)
    return headings, toc


def _blocks(
    lines: list[str], numbered: list[_Heading], by_line: dict[int, _Heading], groups: set[int]
) -> list[_Block]:
    """One block per question. It begins at the question's heading, or earlier at group headings
    that lead straight into it (unnumbered ones such as "第二部分：…" too); it ends where the next
    block or a 目录 heading begins."""
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
        blocks.append(_Block(first, start, path, tuple(g.line for g in open_groups)))
    return blocks


def _leads_into(heading: _Heading | None, question: _Heading, groups: set[int]) -> bool:
    """A higher-level heading right above a question that introduces it rather than ends the
    previous answer: an unnumbered one, or a numbered group heading."""
    if heading is None or heading.level >= question.level:
        return False
    return heading.number is None or heading.line in groups


def _outline(
    numbered: list[_Heading], only_headings_between, toc: _Toc | None
) -> tuple[list[_Heading], set[int]]:
    """Which numbered headings start questions, and which of them are groups (line numbers).

    A numbered heading with nothing under it but deeper numbered headings ("1.RAG应用" over
    "1.RAG文档召回率是什么？") groups questions: it is part of their path, not a question. With a
    table of contents, a deeper numbered heading the TOC does not list (the tips "4.使用BatchNorm"
    inside "4.有哪些提高GAN训练稳定性的Tricks") is a sub-heading of the question above it, and a
    heading over deeper ones is a group only when the TOC lists it as one."""
    kept: list[_Heading] = []
    groups: set[int] = set()
    question: _Heading | None = None  # the question whose answer the next lines belong to
    for heading, following in zip(numbered, numbered[1:] + [None]):
        if toc and question and heading.level > question.level and not toc.lists(heading.text):
            continue
        kept.append(heading)
        leads = (
            following is not None
            and following.level > heading.level
            and only_headings_between(heading.line, following.line)
        )
        if leads and _is_group(heading, following, toc):
            groups.add(heading.line)
            question = None
        else:
            question = heading
    return kept, groups


def _is_group(heading: _Heading, following: _Heading, toc: _Toc | None) -> bool:
    """A numbered heading leading straight into a deeper one groups it, unless the table of
    contents says otherwise: it lists the heading as a question, or lists neither of them."""
    if toc is None:
        return True
    key = _title_key(heading.text)
    if key in toc.group_keys:
        return True
    if key in toc.question_keys:
        return False
    return _title_key(following.text) in toc.question_keys


def _corrected_by_toc(blocks: list[_Block], toc: _Toc) -> list[_Block]:
    """Questions renumbered and retitled where the table of contents shows the printed heading is
    a copy-paste slip:

    - a number printed twice ("17.…" then "17.…"): a question whose title the TOC lists only under
      another number takes that number, when no other question of its group has it;
    - a title printed twice ("3.目前有哪些…" then "4.目前有哪些…"): a question repeating the previous
      question's title takes the title the TOC gives its number.

    A question the TOC lists under its printed number and title keeps both."""
    out: list[_Block] = []
    for i, block in enumerate(blocks):
        start = block.start
        listed = toc.question_keys.get(_title_key(start.text), set())
        if listed and start.number not in listed:
            others = out + blocks[i + 1 :]
            used = {b.start.number for b in others if b.group == block.group}
            free = sorted(listed - used)
            if len(free) == 1:
                start = replace(start, number=free[0])
        previous = out[-1].start if out else None
        titled = toc.titles_by_number.get(start.number, [])
        if previous and _title_key(previous.text) == _title_key(start.text) and len(titled) == 1:
            start = replace(start, text=titled[0])
        out.append(replace(block, start=start))
    return out


def _read_toc(lines: list[str], end: int) -> _Toc | None:
    """The table of contents: numbered link entries above line ``end``; None when there are none.

    An entry's parent is the closest entry above it that is indented less. Entries whose siblings
    all have children are groups; otherwise they are questions and what is nested under them is a
    list of sub-items, neither questions nor groups."""
    entries = []  # (indent, number, title)
    for _, line in _lines_outside_fences(lines[:end]):
        match = _TOC_ENTRY.match(line)
        if match:
            title, number, _ = _split_number(_strip_markup(match.group(2)))
            if number is not None:
                entries.append((len(match.group(1).expandtabs(4)), number, title))
    if not entries:
        return None
    parents: list[int | None] = []
    stack: list[int] = []
    for i, (indent, _, _) in enumerate(entries):
        while stack and entries[stack[-1]][0] >= indent:
            stack.pop()
        parents.append(stack[-1] if stack else None)
        stack.append(i)
    children: dict[int | None, list[int]] = {}
    for i, parent in enumerate(parents):
        children.setdefault(parent, []).append(i)
    kinds: list[str] = []
    toc = _Toc(questions=[], question_keys={}, group_keys=set())
    for i, (_, number, title) in enumerate(entries):
        parent = parents[i]
        if parent is not None and kinds[parent] != "group":
            kinds.append("sub-item")
            continue
        all_grouping = all(sibling in children for sibling in children[parent])
        kinds.append("group" if all_grouping else "question")
        if kinds[i] == "group":
            toc.group_keys.add(_title_key(title))
        else:
            toc.questions.append((number, title))
            toc.question_keys.setdefault(_title_key(title), set()).add(number)
            toc.titles_by_number.setdefault(number, []).append(title)
    return toc


def _promote_toc_questions(
    headings: list[_Heading], every: list[_Heading], toc: _Toc, html_style: bool
) -> list[_Heading]:
    """A TOC question written as an unnumbered heading ("#### 标准化/归一化（Normalization）：" for
    "1.标准化/归一化（Normalization）") is that question, with the TOC's number and title, when no
    numbered heading carries the title. Headings of either style count here."""
    carried = {
        _title_key(h.text)
        for h in headings
        if h.number is not None and h.level <= _MAX_LEVEL_FOR_QUESTION
    }
    candidates = {}  # title key -> first unnumbered heading with it
    for h in every:
        if h.number is None and not _TOC_TITLE.match(h.text):
            candidates.setdefault(_title_key(h.text), h)
    promoted = {}
    for number, title in toc.questions:
        key = _title_key(title)
        if key and key not in carried and key in candidates:
            h = candidates.pop(key)
            level = min(h.level, _MAX_LEVEL_FOR_QUESTION)
            promoted[h.line] = replace(h, level=level, text=title, number=number, html=html_style)
    if not promoted:
        return headings
    kept = [h for h in headings if h.line not in promoted]
    return sorted(kept + list(promoted.values()), key=lambda h: h.line)


def _first_question_line(headings: list[_Heading], default: int) -> int:
    """Line of the first numbered question-level heading: the table of contents is above it."""
    lines = [h.line for h in headings if h.number is not None and h.level <= _MAX_LEVEL_FOR_QUESTION]
    return min(lines, default=default)


def _numbers_from_ids(headings: list[_Heading]) -> list[_Heading]:
    """An HTML heading whose id starts with another number than the printed one takes the id's
    number (``<h2 id="12.…">11.…</h2>`` is question 12), and the id's title too when the printed
    title repeats the previous numbered HTML heading's: a copied heading,
    ``<h2 id="3.什么是1：1人脸验证？">2.什么是人脸识别？</h2>``."""
    out = []
    previous: _Heading | None = None
    for h in headings:
        if h.html and h.number is not None and h.id_number not in (None, h.number):
            copied = previous is not None and _title_key(previous.text) == _title_key(h.text)
            text = h.id_title.strip() if copied and h.id_title.strip() else h.text
            h = replace(h, number=h.id_number, text=text)
        if h.html and h.number is not None and h.level <= _MAX_LEVEL_FOR_QUESTION:
            previous = h
        out.append(h)
    return out


def _resolve_glued_numbers(headings: list[_Heading]) -> list[_Heading]:
    """A question number followed by a digit ("1.3D数据的表示", "16.3D-LLM…", "6.1*1卷积的作用")
    starts a question when it continues the numbering (see _continues); otherwise the heading is
    an unnumbered sub-heading ("2.5D 不是题号" after "2.…")."""
    out = []
    previous: _Heading | None = None  # the last numbered question-level heading
    for h in headings:
        if h.glued and not _continues(h, previous):
            h = replace(h, text=h.printed, number=None, glued=False)
        if h.number is not None and h.level <= _MAX_LEVEL_FOR_QUESTION:
            previous = h
        out.append(h)
    return out


def _continues(heading: _Heading, previous: _Heading | None) -> bool:
    """Whether a question-level heading's number follows the numbered heading before it: one more
    than a heading of the same level, or 1 where none of that level or deeper came before."""
    if heading.level > _MAX_LEVEL_FOR_QUESTION:
        return False
    if previous is None or previous.level < heading.level:
        return heading.number == "1"
    return previous.level == heading.level and int(heading.number) == int(previous.number) + 1


def _find_headings(lines: list[str]) -> list[_Heading]:
    """Every markdown or HTML heading outside code fences, in document order."""
    found = []
    for i, line in _lines_outside_fences(lines):
        parsed = _parse_heading_line(line)
        if parsed is None:
            continue
        level, raw, html, attrs = parsed
        printed = _strip_markup(raw)
        text, number, glued = _split_number(printed)
        id_match = _ID_NUMBER.search(attrs) if html else None
        found.append(
            _Heading(
                level,
                text,
                number,
                i,
                html,
                printed=printed,
                glued=glued,
                id_number=str(int(id_match.group(1))) if id_match else None,
                id_title=id_match.group(2) if id_match else "",
            )
        )
    return found


def _parse_heading_line(line: str) -> tuple[int, str, bool, str] | None:
    """``"<h2 id=x>7.A</h2>"`` -> ``(2, "7.A", True, " id=x")``; ``"### B"`` -> ``(3, "B", False, "")``."""
    html = _HTML_HEADING.match(line) or _HTML_HEADING_LOOSE.match(line)
    if html:
        return int(html.group(1)), html.group(3), True, html.group(2)
    md = _MD_HEADING.match(line)
    if md:
        hashes = md.group(1) or md.group(3)
        return len(hashes), md.group(2) if md.group(1) else md.group(4), False, ""
    return None


def _lines_outside_fences(lines: list[str]):
    """Yield (index, line) for lines that are not inside (or delimiting) a code fence."""
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            yield i, line


def _split_number(raw: str) -> tuple[str, str | None, bool]:
    """``"7.标题"`` -> ``("标题", "7", False)``; unnumbered text -> ``(text, None, False)``.

    After the number, a digit starts either a decimal sub-heading number (``"6.1 小节"``,
    ``"6.1小节"``, ``"3.1. 参数"``: unnumbered) or a title beginning with a digit
    (``"1.3D数据的表示"`` -> ``("3D数据的表示", "1", True)``, a question only in sequence)."""
    match = _NUMBERED.match(raw)
    if not match:
        return raw.strip(), None, False
    if not _GLUED_DIGIT.match(raw):
        return match.group(2), match.group(1), False
    if _DECIMAL_TAIL.match(match.group(2)):
        return raw.strip(), None, False
    return match.group(2), match.group(1), True


def _title_key(title: str) -> str:
    """A title reduced for matching headings with TOC entries: letters and digits only, case and
    full-width forms folded, so spaces, punctuation and a trailing "：" don't matter."""
    text = unicodedata.normalize("NFKC", _strip_markup(title)).casefold()
    return "".join(ch for ch in text if ch.isalnum())


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
