"""Plain-text helpers every stage shares: the language of a text, its sentences, its letters.

    >>> split_sentences("过拟合：训练好。测试差！\\n- 1. 加数据")
    ['过拟合：训练好。', '测试差！', '- 1. 加数据']
    >>> question_language("Why L1?"), question_language("L1为什么稀疏")
    ('en', 'zh')
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from assistant.citations import CITATION, UNFINISHED_CITATION

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_CODE = re.compile(r"```.*?```", re.S)
_FORMULA = re.compile(r"\$\$.*?\$\$", re.S)
_CJK = re.compile(r"[\u4e00-\u9fff]")
LIST_ITEM = re.compile(r"^\s*(?:[-*+•]\s|\d+[.、)）]|[（(]\d+[)）])")  # a line that is a list item: "- ", "2. ", "（3）"


@functools.cache
def name_pattern(name: str) -> re.Pattern:
    """A name in a text, in any case; a Latin end of the name must not touch another letter, digit
    or "_" ("map" is not in "map_location", "p值" not in "top-p值"); a Chinese end may touch anything."""
    before = r"(?<![A-Za-z0-9_])" if name[0].isascii() and name[0].isalnum() else ""
    after = r"(?![A-Za-z0-9_])" if name[-1].isascii() and name[-1].isalnum() else ""
    return re.compile(before + re.escape(name) + after, re.IGNORECASE)
_ITEM_MARK = re.compile(r"^\s*(?:[-*+>]\s*)?(?:\d+[.、)）](?!\d)|[（(]?[一二三四五六七八九十]+[、.)）]|[（(]\d+[)）])?\s*")


def question_language(question: str) -> str:
    """"zh" when the question is mostly Chinese, else "en": "Why L1?" -> "en", "L1为什么稀疏" -> "zh"."""
    cjk = len(_CJK.findall(question))
    latin_words = len(re.findall(r"[A-Za-z]+", question))
    return "zh" if cjk and cjk >= latin_words else "en"


def without_code(text: str) -> str:
    """``text`` with its code blocks and display formulas blanked out (what sentence readers skip)."""
    return _FORMULA.sub(" ", _CODE.sub(" ", text))


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of a section, without code blocks and display formulas."""
    return [sentence.text for sentence in headed_sentences(text)]


class Headed(NamedTuple):
    """A sentence, the sub-heading line it stands under ("" before the first) and that heading's
    group number (0 before the first; two "#### 方法:" headings are two groups)."""

    text: str
    heading: str
    group: int


def headed_sentences(text: str, heading: str = "") -> list[Headed]:
    """``split_sentences`` with the sub-heading each sentence stands under; ``heading``: the one
    ``text`` starts under (a chunk that begins inside a sub-heading's text).
    ``"#### 五、早停法\n监控验证集。"`` -> ``[Headed("监控验证集。", "#### 五、早停法", 1)]``."""
    text = without_code(text)
    sentences, group = [], 0
    for line in text.split("\n"):
        if line.strip().startswith("#"):  # a heading line; its text after a "？" stays a sentence, as it was
            heading, group = line.strip(), group + 1
        for piece in _SENTENCE.findall(line):
            piece = piece.strip()
            if len(piece) >= 4 and not piece.startswith("#"):
                sentences.append(Headed(piece, heading, group))
    return sentences


def letters(text: str) -> str:
    """``"2. **L1 正则**，为什么稀疏？" -> "2l1正则为什么稀疏"``: letters (CJK included) and digits only, lower case."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def repeats_a_line(text: str) -> bool:
    """Whether a complete line of ``text`` (one followed by a newline) repeats an earlier one, as
    ``line_key`` compares them: ``"过采样 [1]\n欠采样\n过采样 [2]\n" -> True``."""
    keys = [key for key in map(line_key, text.split("\n")[:-1]) if key]
    return len(set(keys)) < len(keys)


def line_key(line: str) -> str:
    """What two lines of a reply are compared by: ``"二、过采样 [1]" -> "过采样"`` (citations, an
    unfinished one at the end, a list item's number or marker, and spacing aside)."""
    return UNFINISHED_CITATION.sub("", re.sub(r"\s+", "", CITATION.sub("", _ITEM_MARK.sub("", line))))
