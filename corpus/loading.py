"""Load a corpus from one file or a folder of .md/.txt files into sections.

Unreadable files (binary, not UTF-8, empty) are skipped with a warning naming them; a corpus
never fails to load because of one bad file. The corpus hash covers every file's path and bytes,
so an index built from it can tell when anything changed.

A corpus is a path or the name of a bundled one: ``"wethinkin"`` (the default, the whole WeThinkIn
interview collection) or ``"seed"`` (its first 17 questions on machine-learning basics).

    >>> corpus = load_corpus("seed")
    >>> len(corpus.sections), corpus.sections[6].ref
    (17, 'ml_basics_qa#7')
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from corpus.sections import Section, parse_sections

log = logging.getLogger(__name__)

SUFFIXES = (".md", ".txt", ".markdown")


@dataclass
class Corpus:
    """The sections of every readable file under ``root``, plus what was skipped and why."""

    root: Path  # the file or folder it was loaded from
    sections: list[Section]
    content_hash: str  # sha256 over the relative path and bytes of every file considered
    files: list[str] = field(default_factory=list)  # doc ids of files that had questions
    skipped: dict[str, str] = field(default_factory=dict)  # doc id -> reason

    def section(self, ref: str) -> Section:
        """The section with this ref (``"doc#7"``); KeyError naming it when absent."""
        for section in self.sections:
            if section.ref == ref:
                return section
        raise KeyError(f"no section {ref!r} in corpus {self.root}")


# Corpora shipped in the package, by name: data path under corpus/ and what it is.
BUNDLED = {
    "wethinkin": ("data/wethinkin", "the WeThinkIn interview collection (GPL-3.0; see its ATTRIBUTION.md)"),
    "seed": ("data/ml_basics_qa.md", "17 questions on machine-learning basics"),
}
DEFAULT_CORPUS = "wethinkin"


def bundled_corpus_path(name: str) -> Path:
    """Where the bundled corpus ``name`` lives; KeyError listing the names for an unknown one."""
    if name not in BUNDLED:
        raise KeyError(f"no bundled corpus {name!r}; bundled: {', '.join(BUNDLED)}")
    return Path(str(resources.files("corpus").joinpath(*BUNDLED[name][0].split("/"))))


def default_corpus_path() -> Path:
    """The default corpus: the bundled WeThinkIn collection."""
    return bundled_corpus_path(DEFAULT_CORPUS)


def corpus_path(path: str | Path | None) -> Path:
    """A corpus argument as a path: None is the default corpus, a bundled name is its folder
    or file (write ``./seed`` for a local folder called ``seed``), anything else a path."""
    if path is None:
        return default_corpus_path()
    if isinstance(path, str) and path in BUNDLED:
        return bundled_corpus_path(path)
    return Path(path).expanduser()


def load_corpus(path: str | Path | None = None) -> Corpus:
    """Parse a file or, recursively, every .md/.txt file of a folder (sorted, so order is stable).
    ``path`` may name a bundled corpus (``"wethinkin"``, ``"seed"``); None loads the default."""
    root = corpus_path(path)
    if not root.exists():
        raise FileNotFoundError(f"Corpus path {root} does not exist: pass a .md/.txt file or a folder.")
    if root.is_file():
        paths = [root]
        doc_ids = [root.stem]
    else:
        paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        doc_ids = [p.relative_to(root).with_suffix("").as_posix() for p in paths]
        if not paths:
            raise ValueError(f"No .md or .txt files under {root}.")

    digest = hashlib.sha256()
    sections: list[Section] = []
    files: list[str] = []
    skipped: dict[str, str] = {}
    for file_path, doc in zip(paths, doc_ids):
        data = file_path.read_bytes()
        digest.update(doc.encode() + b"\0" + hashlib.sha256(data).digest())
        text, problem = decode_text(data)
        if problem:
            log.warning("Skipped %s: %s.", file_path, problem)
            skipped[doc] = problem
            continue
        found = parse_sections(text, doc)
        if not found:
            log.debug("No numbered questions in %s; nothing indexed from it.", file_path)
            skipped[doc] = "no numbered questions"
            continue
        sections.extend(found)
        files.append(doc)
    return Corpus(root=root, sections=sections, content_hash=digest.hexdigest(), files=files, skipped=skipped)


def decode_text(data: bytes) -> tuple[str, str | None]:
    """UTF-8 text of a file, or ("", reason) when it is empty, binary or another encoding."""
    if not data.strip():
        return "", "empty file"
    if b"\0" in data[:8192]:
        return "", "binary file (contains NUL bytes)"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        return "", f"not UTF-8 text (invalid byte at offset {err.start}); convert it to UTF-8"
