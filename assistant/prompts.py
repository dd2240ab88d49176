"""Prompt texts shipped as package data (``assistant/data/*.txt``), read once.

    >>> refusal_text("en")
    'The study notes do not cover this question.'
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def prompt_text(name: str) -> str:
    """A prompt file shipped in ``assistant/data``."""
    return (resources.files("assistant") / "data" / name).read_text("utf-8")


def refusal_text(language: str) -> str:
    """The fixed sentence a refusal answers with, in the question's language ("zh" or "en")."""
    lines = dict(line.split("\t", 1) for line in prompt_text("refusal.txt").splitlines() if "\t" in line)
    return lines[language]
