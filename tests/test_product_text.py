"""Product text describes the product as it is: no development diary in the README, the docs,
the benchmarks README, or the code's comments and docstrings (git keeps the history)."""

import re

from conftest import REPO

HISTORY = re.compile(r"\b[Ss]essions? \d|shipped until|tried in|(?<!/)\bv\d{1,2}\b(?! run)")  # "/v1" is an API path
NAMES = ("use-multilingual-v3", "jieba-search-v1", "multilingual v3")  # model and format ids, not versions of ours


def product_text_files():
    yield from (REPO / name for name in ("README.md", "benchmarks/README.md"))
    yield from (REPO / "docs").glob("*.md")
    for package in ("corpus", "index", "assistant", "ui", "benchmarks", "tests"):
        yield from (path for path in (REPO / package).rglob("*.py") if path.name != "test_product_text.py")


def test_no_line_of_history_is_left_in_product_text():
    lines = []
    for path in product_text_files():
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if HISTORY.search(line) and not any(name in line for name in NAMES):
                lines.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert lines == []


def test_the_history_pattern_catches_a_diary_line():
    assert HISTORY.search("dev 0.714 (s" + "ession 16)") and HISTORY.search("v8 shipped") and not HISTORY.search("version 3")
