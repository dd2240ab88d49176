"""Grading a drill answer: the section's key points, which of them the answer covers, and the
model's optional 0/1/2 judgement.

    >>> round(coverage_score(2, 5), 3)
    0.667
"""

from __future__ import annotations

import re

from assistant.llm.base import ChatModel, GenerationOptions
from assistant.prompts import prompt_text
from assistant.text import split_sentences

MAX_POINTS = 5  # key points per section
POINT_CHARS = 90  # longest key point kept (longer sentences are cut at a clause)
COVERED_SHARE = 0.5  # a point counts as covered when this share of its head clause's terms is in the answer
FULL_MARKS_POINTS = 3  # covering this many key points (or all, if fewer) is a complete interview answer


def extract_key_points(text: str, max_points: int = MAX_POINTS) -> list[str]:
    """The section's key points: its list items first (they carry the answer in this corpus), then
    its opening sentences, each cut to ``POINT_CHARS``.

    ``"过拟合是…。\\n- 1. 增加数据\\n- 2. 正则化" -> ["增加数据", "正则化", "过拟合是…。"]``
    """
    # English sentences too: "… training. It keeps …" is two points
    sentences = [part for sentence in split_sentences(text) for part in re.split(r"(?<=[a-z]{2}[.!?])\s+(?=[A-Z])", sentence)]
    items = [s for s in sentences if re.match(r"^([-*•]|\d+[.、)]|[（(]\d+[)）])", s)]
    ordered = items + [s for s in sentences if s not in items]
    points = []
    for sentence in ordered:
        point = re.sub(r"\*\*|__", "", sentence)
        point = re.sub(r"^([-*•]\s*)?(\d+[.、)]\s*|[（(]\d+[)）]\s*)?", "", point).strip()
        if len(point) > POINT_CHARS:
            point = re.split(r"[,，;；：]|(?<!:):(?!:)", point[:POINT_CHARS])[0]  # not inside "std::deque"
        if (is_point(point) or sentence in items and is_name(point)) and point not in points:
            points.append(point)
        if len(points) == max_points:
            break
    return points


def is_point(text: str) -> bool:
    """A gradable statement: at least 4 Chinese characters or English words (outside formulas; an
    English word counts two characters, so "AI绘画" and "Dropout drops units at random" pass), not a
    display formula, not a figure caption or a lead-in ending in a colon."""
    prose = re.sub(r"\$[^$]*\$", " ", text)  # inline formulas ($n+1$) do not count, nor block a point
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in prose)
    words = len(re.findall(r"[A-Za-z][A-Za-z0-9+#\-]*", prose))
    return (cjk + 2 * words >= 4 and (cjk >= 4 or words >= 4 or cjk + words >= 3) and "$$" not in text
            and "$" not in prose and not text.endswith((":", "："))
            and not re.search(r"如上图|如下图|示意图|如下所示|as shown (above|below)", text, re.I))


def is_name(text: str) -> bool:
    """A list item that only names something ("MobileNet", "AI绘画"): a point when the list is the answer."""
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+#.\-]{2,}(\s[A-Za-z0-9][A-Za-z0-9+#.\-]*){0,2}|[\u4e00-\u9fffA-Za-z0-9]{2,12}", text.strip()))


def point_coverage(points: list[str], answer: str, tokenizer) -> tuple[list[str], list[str]]:
    """(covered, missed) key points: a point is covered when ``COVERED_SHARE`` of its terms occur
    among the answer's terms (with the query glossary's synonyms and English translations)."""
    answer_terms = set(tokenizer.tokenize_query(answer))
    covered, missed = [], []
    for point in points:
        terms = _terms(_head_clause(point, tokenizer), tokenizer)
        share = len(terms & answer_terms) / len(terms) if terms else 0.0
        (covered if share >= COVERED_SHARE else missed).append(point)
    return covered, missed


def _terms(text: str, tokenizer) -> set[str]:
    return {t for t in tokenizer.tokenize(text) if len(t) > 1 or not t.isascii()}


def _head_clause(point: str, tokenizer) -> str:
    """What a point is about: its first clause when that says enough (3+ terms), else all of it.

    ``"重新清洗数据,数据不纯会导致过拟合…" -> "重新清洗数据"``; ``"欠拟合:模型在…" -> the whole point``.
    """
    head = re.split(r"[,，;；:：。]", point, maxsplit=1)[0]
    return head if len(_terms(head, tokenizer)) >= 3 or head == point else point


def coverage_score(covered: int, total: int) -> float:
    """Share of the expected points covered: ``FULL_MARKS_POINTS`` of them (or all, if fewer) is 1.0."""
    return min(1.0, covered / min(FULL_MARKS_POINTS, total)) if total else 0.0


def judge_answer(model: ChatModel, question: str, points: list[str], answer: str) -> float | None:
    """The LLM's grade of ``answer`` against the reference points: 2 -> 1.0, 1 -> 0.5, 0 -> 0.0;
    None when its reply holds no grade."""
    prompt = prompt_text("grade_prompt.txt").format(
        question=question, points="\n".join(f"- {p}" for p in points), answer=answer.strip())
    reply = model.generate([{"role": "user", "content": prompt}], GenerationOptions(temperature=0.0, max_new_tokens=4))
    digit = re.search(r"[012]", reply)
    return None if digit is None else int(digit.group(0)) / 2
