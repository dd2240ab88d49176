"""The parser on the full public corpus (read by path from ../shared, never copied)."""

import re

import pytest

from conftest import WETHINKIN
from corpus import load_corpus, parse_sections


# A numbered question heading: <h1>-<h3> whose text starts with a number and "." or "、".
_NUMBERED_HTML = re.compile(r"^\s*<h[1-3][^>]*>\s*\d+\s*[.、．]", re.M)


@pytest.mark.parametrize(
    "relative, headings, groups",
    [
        # numbered <h1>-<h3> headings, and how many of them are group headings over deeper
        # numbered questions (e.g. "<h2>1.RAG应用</h2>" above "<h3>1.RAG文档召回率是什么？</h3>"),
        # both counted by hand in each file
        ("机器学习基础/机器学习优化方法知识点.md", 19, 0),
        ("大厂高频算法题/各大厂算法面试题.md", 8, 0),
        ("深度学习基础/注意力机制知识点.md", 42, 0),
        ("AI视频基础/训练数据集与性能评测.md", 6, 0),
        ("大模型基础/模型推理与应用.md", 56, 5),
    ],
)
def test_sections_per_file_equal_numbered_question_headings(relative, headings, groups):
    text = (WETHINKIN / relative).read_text("utf-8")
    assert len(_NUMBERED_HTML.findall(text)) == headings
    sections = parse_sections(text, relative)
    assert len(sections) == headings - groups
    assert len({s.ref for s in sections}) == len(sections)
    assert all(s.title and s.text for s in sections)


def test_whole_corpus_loads_without_errors():
    corpus = load_corpus(WETHINKIN)
    assert len(corpus.sections) > 1400
    assert len(corpus.files) > 60
    assert all(reason for reason in corpus.skipped.values())
