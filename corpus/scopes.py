"""Scopes (chapters to study) and the outline of a corpus.

A scope is a list of folder or file prefixes of document ids: ``"机器学习基础"`` is a whole
folder, ``"机器学习基础/机器学习优化方法知识点"`` one file (a trailing ``/`` or ``.md`` is
ignored). A document is in scope when its id is one of them or lies under one of them.

    >>> normalise_scope(" 深度学习基础/ ,机器学习基础/机器学习优化方法知识点.md")
    ('深度学习基础', '机器学习基础/机器学习优化方法知识点')
    >>> in_scope("深度学习基础/卷积层知识点", ("深度学习基础",)), in_scope("深度学习基础2/x", ("深度学习基础",))
    (True, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from corpus.sections import Section

_SUFFIXES = (".md", ".markdown", ".txt")


class UnknownScopeError(ValueError):
    """A scope names no folder or file of the corpus."""


def normalise_scope(scope: str | Sequence[str] | None) -> tuple[str, ...]:
    """A scope as a tuple of clean prefixes; ``None``, ``""`` and ``[]`` mean the whole corpus (``()``).

    A string may hold several prefixes separated by commas (as typed on the command line).
    """
    if scope is None:
        return ()
    if isinstance(scope, str):
        parts = scope.split(",")
    elif isinstance(scope, Iterable):
        parts = list(scope)
        if not all(isinstance(part, str) for part in parts):
            raise TypeError(f"scope should be folder or file names (strings), got {scope!r}")
    else:
        raise TypeError(f"scope should be a string or a list of strings, got {type(scope).__name__}")
    clean = []
    for part in parts:
        part = part.strip().replace("\\", "/").strip("/")
        while part.startswith("./"):
            part = part[2:]
        for suffix in _SUFFIXES:
            if part.lower().endswith(suffix):
                part = part[: -len(suffix)]
        if part and part not in clean:
            clean.append(part)
    return tuple(clean)


def in_scope(doc: str, scope: Sequence[str]) -> bool:
    """Whether document ``doc`` is one of the prefixes or under one; an empty scope holds everything."""
    return not scope or any(doc == prefix or doc.startswith(prefix + "/") for prefix in scope)


def check_scope(scope: Sequence[str], docs: Iterable[str]) -> None:
    """Raise UnknownScopeError naming each prefix that matches no document, with what exists."""
    docs = sorted(set(docs))
    unknown = [prefix for prefix in scope if not any(in_scope(doc, (prefix,)) for doc in docs)]
    if unknown:
        folders = sorted({doc.split("/")[0] for doc in docs if "/" in doc})
        offer = f"folders: {', '.join(folders)}" if folders else f"files: {', '.join(docs[:20])}"
        raise UnknownScopeError(
            f"No chapter {', '.join(repr(u) for u in unknown)} in this corpus; use a folder or file of it ({offer})."
        )


@dataclass
class OutlineFile:
    """One file of the outline: its document id, display name and questions (ref, heading, title)."""

    doc: str
    name: str
    questions: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class OutlineFolder:
    """One top-level folder (``""`` for files at the corpus root) and its files."""

    name: str
    files: list[OutlineFile] = field(default_factory=list)

    @property
    def n_questions(self) -> int:
        return sum(len(f.questions) for f in self.files)


def outline(sections: Iterable[Section]) -> list[OutlineFolder]:
    """Folder -> file -> questions, in corpus order: what a learner browses to pick chapters."""
    folders: dict[str, OutlineFolder] = {}
    files: dict[str, OutlineFile] = {}
    for section in sections:
        folder_name = section.doc.split("/")[0] if "/" in section.doc else ""
        folder = folders.setdefault(folder_name, OutlineFolder(folder_name))
        if section.doc not in files:
            name = section.doc[len(folder_name) + 1 :] if folder_name else section.doc
            files[section.doc] = OutlineFile(section.doc, name)
            folder.files.append(files[section.doc])
        files[section.doc].questions.append((section.ref, section.heading, section.title))
    return list(folders.values())


def chapters(sections: Iterable[Section]) -> list[str]:
    """Every scope a learner can pick: each top-level folder, then each file, in corpus order."""
    picks: list[str] = []
    for folder in outline(sections):
        if folder.name:
            picks.append(folder.name)
        picks.extend(f.doc for f in folder.files)
    return picks
