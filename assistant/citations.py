"""The one citation grammar: how an answer points at its numbered sources.

A mark is ``[n]`` or ``[n, m, …]``; the model also writes full-width brackets and Chinese commas
(``【1】``, ``[1，2]``), read the same. Every reader of citations (the answer checks, the eval, the
page's links) goes through this module.

    >>> parse_citations("过采样 [1]，阈值调整 [2][5]。", n_sources=3)
    ([1, 2], [5])
    >>> normalise_citations("A【1，7】B [2]", n_sources=3)
    'A[1]B [2]'
"""

from __future__ import annotations

import re

CITATION = re.compile(r"[\[【]\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*[\]】]")
UNFINISHED_CITATION = re.compile(r"[\[【]\d*$")  # "... [" or "... [1": a reply stopped mid-citation
_SEPARATOR = re.compile(r"\s*[,，、]\s*")


def citation_numbers(mark: re.Match) -> list[int]:
    """The numbers one ``CITATION`` match names: ``[1, 3]`` -> [1, 3]."""
    return [int(n) for n in _SEPARATOR.split(mark.group(1))]


def parse_citations(text: str, n_sources: int) -> tuple[list[int], list[int]]:
    """Source numbers an answer cites, in first-cited order: (valid, invalid)."""
    valid, invalid = [], []
    for mark in CITATION.finditer(text):
        for n in citation_numbers(mark):
            target = valid if 1 <= n <= n_sources else invalid
            if n not in target:
                target.append(n)
    return valid, invalid


def normalise_citations(text: str, n_sources: int) -> str:
    """Every mark written ``[n]`` / ``[n, m]``, numbers that point at no given source removed:
    "A [1][7]" -> "A [1]" (3 sources)."""

    def keep(mark: re.Match) -> str:
        numbers = [str(n) for n in citation_numbers(mark) if 1 <= n <= n_sources]
        return f"[{', '.join(numbers)}]" if numbers else ""

    return CITATION.sub(keep, text)


def strip_citations(text: str, replacement: str = "") -> str:
    """``text`` without its citation marks: ``"过采样 [1]。" -> "过采样 。"``."""
    return CITATION.sub(replacement, text)


def link_citations(text: str, n_sources: int, link) -> str:
    """Each valid number of each mark replaced by ``link(n)`` (a number out of range stays plain):
    ``link_citations("A [1, 2]", 2, lambda n: f"<{n}>") -> "A <1><2>"``."""

    def replace(mark: re.Match) -> str:
        numbers = citation_numbers(mark)
        if not all(1 <= n <= n_sources for n in numbers):
            return mark.group(0)
        return "".join(link(n) for n in numbers)

    return CITATION.sub(replace, text)
