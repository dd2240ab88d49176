"""How a near-copy differs from the source clause it copies, change by change.

Clauses come normalised (``contradictions.normalise``) and are aligned unit by unit: a Latin word
or number is one unit, a CJK character or mark another, so "l1" against "l2" is one word changed,
not a digit. What the alignment changes is classified: a number changed, a negation added or
dropped, a word turned into its opposite (``assistant/data/opposites.tsv``), a name swapped.

    >>> contradicting_change("l2正则不会产生稀疏解", "l1正则会产生稀疏解", "l1l2") is None  # a swap and a flip cancel
    True
    >>> contradicting_change("学习率设为0.01", "学习率设为0.001", "")
    ('number', '0.001', '0.01')
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import lru_cache
from importlib import resources

LATIN = re.compile(r"[a-z][a-z0-9\-]*|[0-9]+(?:\.[0-9]+)?%?")
_NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)?%?$")
UNIT = re.compile(r"[a-z0-9.%]+|.")  # what a normalised clause is aligned in: "l1正则0.5" -> l1, 正, 则, 0.5
_NEGATION = re.compile(r"不|没|无|非|未|勿|别|否")
_NOT_NEGATION = ("非常", "无论", "不仅", "不断", "不少", "不过", "别的", "无关紧要", "并非不", "否则", "不但",
                 "类别", "区别", "分别", "特别", "识别", "差别", "级别", "个别")  # 别 in a word: no "don't"


@lru_cache(maxsize=1)
def opposites() -> dict[str, set[str]]:
    """Word pairs that say opposite things (``assistant/data/opposites.tsv``), both directions."""
    text = (resources.files("assistant") / "data" / "opposites.tsv").read_text("utf-8")
    pairs: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            a, b = line.split("\t")
            pairs.setdefault(a, set()).add(b)
            pairs.setdefault(b, set()).add(a)
    return pairs


def contradicting_change(source: str, clause: str, source_text: str) -> tuple[str, str, str] | None:
    """(kind, said, noted) for the change from ``source`` to ``clause`` that contradicts it: a
    number changed, an odd count of polarity flips (a negation added or dropped, a word turned into
    its opposite), or terms swapped ("new和delete是C++中的运算符" -> "malloc和free是C++中的运算符": one change
    of subject however many names it swaps) without a polarity flip. A swap and a flip cancel:
    "L2不会产生稀疏解" -> "L1会产生稀疏解" holds."""
    flips, swaps = [], []
    noted_units, said_units = UNIT.findall(source), UNIT.findall(clause)  # a Latin word or number aligns whole
    changes = [names_apart(noted_units[i1:i2], said_units[j1:j2])
               for tag, i1, i2, j1, j2 in SequenceMatcher(None, noted_units, said_units, autojunk=False).get_opcodes()
               if tag != "equal"]
    for noted, said in (pair for pairs in changes for pair in pairs):
        noted_term, said_term = noted.strip("."), said.strip(".")
        if _NUMBER.match(noted_term) and _NUMBER.match(said_term) and noted_term != said_term:
            return "number", said_term, noted_term
        if negation_flip(noted, said):
            flips.append(("negation", said if negations(said) else "", noted if negations(noted) else ""))
        elif noted and said and LATIN.fullmatch(noted_term) and LATIN.fullmatch(said_term) \
                and said_term in source_text and not (noted_term in said_term or said_term in noted_term):
            swaps.append(("term", said_term, noted_term))
        elif noted and said and said in opposites().get(noted, ()):
            flips.append(("term", said, noted))
    if swaps:
        return None if len(flips) % 2 else swaps[0]
    return flips[0] if len(flips) % 2 else None


def names_apart(noted: list[str], said: list[str]) -> list[tuple[str, str]]:
    """A changed run of units as (noted, said) pairs: one Latin name or number for another, apart
    from the words changed beside it ("所以l2" -> "l1": ("l2", "l1"), ("所以", "")); else the run whole."""
    noted_names, said_names = [u for u in noted if is_name(u)], [u for u in said if is_name(u)]
    if len(noted_names) == len(said_names) == 1 and (len(noted) > 1 or len(said) > 1):
        rest = ("".join(u for u in noted if not is_name(u)), "".join(u for u in said if not is_name(u)))
        return [(noted_names[0], said_names[0])] + ([rest] if any(rest) else [])
    return [("".join(noted), "".join(said))]


def names_in(clause: str) -> set[str]:
    """The Latin names of a normalised clause, numbers aside: "blip2引入了transformerxl，共3个" -> {"blip2", "transformerxl"}."""
    return {unit for unit in UNIT.findall(clause) if is_name(unit) and not _NUMBER.match(unit.strip("."))
            and any(ch.isalpha() for ch in unit)}


def is_name(unit: str) -> bool:
    """Whether an alignment unit is a Latin word or a number (not one CJK character or mark)."""
    return len(unit) > 1 or unit.isascii() and unit.isalnum()


def names_masked(clause: str) -> str:
    """A normalised clause with each Latin word and number as one mark: "l1正则0.5" -> "§正则§"."""
    return "".join("§" if is_name(unit) else unit for unit in UNIT.findall(clause))


def negation_flip(noted: str, said: str) -> bool:
    """One side of a change negates and the other does not, and the change is the negation alone
    (each side adds at most one character: "不易" -> "容易"), not a new phrase ("不" -> "l1正则") nor a
    phrase that holds a negation dropped whole ("效果均不好" -> "")."""
    if bool(negations(noted)) == bool(negations(said)):
        return False
    plain, negated = (said, noted) if negations(noted) else (noted, said)
    rest = _NEGATION.sub("", negated)  # a phrase dropped whole ("效果均不好" -> "") flips nothing
    return len(plain) <= 1 and len(rest) <= 1


def dropped_negation(source: str, clause: str) -> tuple[str, str, str] | None:
    """("negation", "", "没有") when ``clause`` is copied from ``source`` without the negation
    just before it: "产生稀疏性" from "但是没有产生稀疏性"."""
    start = source.find(clause)
    before = source[max(0, start - 2):start]
    if negations(before) and not any(source[max(0, start - 4):start + 2].find(c) >= 0 for c in _NOT_NEGATION):
        return "negation", "", before
    return None


def negations(word: str) -> int:
    """How many negations ``word`` holds, compounds that negate nothing ("非常", "无论") aside."""
    for compound in _NOT_NEGATION:
        word = word.replace(compound, "")
    return len(_NEGATION.findall(word))
