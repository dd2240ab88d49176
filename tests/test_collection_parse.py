"""The parser on the bundled WeThinkIn collection: every question its tables of contents list is a
section, nothing is swallowed, and the section counts are pinned (checked by hand once)."""

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from corpus import load_corpus

ROOT = Path(__file__).resolve().parents[1] / "corpus" / "data" / "wethinkin"

# Sections per top folder, counted after checking each file's TOC against its parse.
COUNTS = {
    "AI多模态基础": 125,
    "AI绘画基础": 160,
    "AI视频基础": 111,
    "大厂高频算法题": 24,
    "大模型基础": 217,
    "开放性问题": 66,
    "数字人基础": 34,
    "数据结构基础": 18,
    "机器学习基础": 82,
    "模型部署基础": 125,
    "深度学习基础": 199,
    "算法岗面试求职宝典": 5,
    "经典模型": 58,
    "编程基础：C和C++": 107,
    "编程基础：Python": 84,
    "计算机基础": 70,
}

# TOC questions whose heading words the title differently; the section with that number is there.
WORDED_DIFFERENTLY = {
    "AI多模态基础/多模态-核心模型": {"6"},
    "AI多模态基础/多模态-理论知识": {"12"},
    "AI绘画基础/AI绘画大模型基础": {"39", "40", "41"},
    "大厂高频算法题/大厂高频手撕算法题": {"2"},
    "大模型基础/基础知识": {"42", "70"},
    "开放性问题/算法工程师个人成长问题": {"13"},
    "数字人基础/2D数字人生成基础": {"1", "24", "26"},
    "机器学习基础/机器学习优化方法知识点": {"15"},
    "机器学习基础/机器学习基础概念知识点": {"1"},
    "机器学习基础/经典机器学习算法知识点": {"5"},
    "深度学习基础/全连接层知识点": {"11"},
    "深度学习基础/注意力机制知识点": {"4", "9", "12"},
    "编程基础：C和C++/C和C++基础知识高频考点": {"35"},
    "编程基础：C和C++/C和C++进阶知识高频考点": {"35"},
    "编程基础：Python/Python基础知识高频考点": {"22"},
    "计算机基础/计算机网络高频知识点": {"15"},
}
# TOC questions the document does not contain.
NOT_IN_DOCUMENT = {
    "大厂高频算法题/各大厂算法面试题": {"百度AIGC算法面试题13道"},  # the file ends after 8
    "大模型基础/模型推理与应用": {"什么是agent？"},  # a stray "4.Agent" group in the TOC only
}

_TOC_ENTRY = re.compile(r"^(\s*)(?:[-*+]\s*)?\[\s*(\d+)\s*[.、．]\s*(.*?)\]\(")
_QUESTION_HEADING = re.compile(r"^\s*(?:<h[1-3]\b[^>]*>|#{1,3}\s)\s*\d+\s*[.、．]")
_HTML_QUESTION = re.compile(r"^\s*<h[1-3]\b[^>]*>\s*(?:\*\*)?\s*\d+\s*[.、．]", re.IGNORECASE)
_MD_NUMBERED = re.compile(r"^#{1,3}\s+(\d+)\s*[.、．]\s*(.+)$")


def _key(title):
    text = unicodedata.normalize("NFKC", re.sub(r"</?[a-zA-Z][^>]*>", "", title)).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def _toc_questions(text):
    """(number, title) of the TOC's questions. An entry with children is a group when its
    siblings all have children too; otherwise it is a question and its children are sub-items
    (the GAN tips under "4.有哪些提高GAN训练稳定性的Tricks")."""
    entries = []  # (indent, number, title)
    for line in text.split("\n"):
        if _QUESTION_HEADING.match(line):
            break
        match = _TOC_ENTRY.match(line)
        if match:
            entries.append((len(match.group(1).expandtabs(4)), match.group(2), match.group(3)))
    parents, stack = [], []
    for i, (indent, _, _) in enumerate(entries):
        while stack and entries[stack[-1]][0] >= indent:
            stack.pop()
        parents.append(stack[-1] if stack else None)
        stack.append(i)
    with_children = set(parents)
    groups, questions = set(), []
    for i, (_, number, title) in enumerate(entries):
        parent = parents[i]
        if parent is not None and parent not in groups:
            continue  # a sub-item of a question
        siblings = [j for j, p in enumerate(parents) if p == parent]
        if all(j in with_children for j in siblings):
            groups.add(i)
        else:
            questions.append((number, title))
    return questions


@pytest.fixture(scope="module")
def collection():
    return load_corpus(ROOT)


@pytest.fixture(scope="module")
def by_doc(collection):
    docs = {}
    for section in collection.sections:
        docs.setdefault(section.doc, []).append(section)
    return docs


def _documents():
    for path in sorted(ROOT.rglob("*.md")):
        yield path.relative_to(ROOT).with_suffix("").as_posix(), path.read_text("utf-8")


def test_every_toc_question_is_a_section(by_doc):
    checked = 0
    for doc, text in _documents():
        sections = by_doc.get(doc, [])
        titles = {_key(s.title) for s in sections}
        numbers = {s.number for s in sections}
        for number, title in _toc_questions(text):
            checked += 1
            if _key(title) in titles or title in NOT_IN_DOCUMENT.get(doc, set()):
                continue
            assert number in WORDED_DIFFERENTLY.get(doc, set()), (doc, number, title)
            assert number in numbers, (doc, number, title)
    assert checked > 1300


def test_section_counts_per_top_folder(collection):
    counts = Counter(section.doc.split("/")[0] for section in collection.sections)
    assert dict(counts) == COUNTS
    assert len(collection.sections) == sum(COUNTS.values()) == 1485


def test_refs_are_unique(collection):
    refs = [section.ref for section in collection.sections]
    assert len(set(refs)) == len(refs)


def test_no_section_swallows_a_question(collection):
    toc_keys = {doc: {_key(title) for _, title in _toc_questions(text)} for doc, text in _documents()}
    for section in collection.sections:
        for line in section.text.split("\n"):
            assert not _HTML_QUESTION.match(line), (section.ref, line)
            # HTML headings in answer text read as "### N.title": none may be another TOC question.
            numbered = _MD_NUMBERED.match(line)
            if numbered and _key(numbered.group(2)) != _key(section.title):
                assert _key(numbered.group(2)) not in toc_keys.get(section.doc, set()), (section.ref, line)


def test_gan_tips_stay_inside_their_question(collection):
    tricks = collection.section("深度学习基础/深度学习优化方法知识点#4")
    assert tricks.title == "有哪些提高GAN训练稳定性的Tricks"
    assert "### 4.使用BatchNorm" in tricks.text and "### 14.使用多个GAN结构" in tricks.text
