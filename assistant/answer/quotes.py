"""Quotes: the key sentences of the cited sections, shown under the model's synthesis.

A 0.5B model paraphrases loosely and sometimes drifts; quoting the section's most relevant
sentences (marked as quotes, with their source number) keeps the answer faithful.

    >>> compose("L1产生稀疏解 [1]", [(1, "L1正则使权重稀疏。")], "zh")
    'L1产生稀疏解 [1]\\n\\n资料原文要点：\\n> L1正则使权重稀疏。 [1]'
"""

from __future__ import annotations

import re

from index import Hit, SearchIndex

from assistant.answer.settings import AnswerConfig
from assistant.text import Headed, headed_sentences, letters, split_sentences

HEADING_WEIGHT = 0.5  # a question term in a sentence's sub-heading counts this much of one in the sentence
# (dev, quotes alone: key-point recall 0.537 -> 0.601; weight 1.0: 0.597)
QUOTES_HEADING = {"zh": "资料原文要点：", "en": "From the notes:"}  # the line above an answer's quotes


def key_sentences(question_terms: set[str], text: str, tokenize, max_sentences: int = 3, max_chars: int = 240,
                  said: str = "") -> list[str]:
    """The sentences of ``text`` sharing most terms with the question, in their original order.

    A term in the sub-heading a sentence stands under counts ``HEADING_WEIGHT`` of one in the
    sentence: the notes name a method in a heading ("早停法") and explain it in sentences that do
    not repeat the name. Ties go to earlier sentences (definitions come first in this corpus); the
    total stays within max_chars, and a sentence sharing no term, itself or by its heading, is
    never chosen; nor one that ``said`` (e.g. the answer's synthesis) already contains word for
    word (letters and digits compared: list markers, emphasis, spaces and punctuation aside); nor
    one that only introduces or heads what follows (``introduces_or_heads``).
    """
    said = letters(said)
    scored = []
    for position, sentence in enumerate(headed_sentences(text)):
        if introduces_or_heads(sentence.text):
            continue
        overlap = sentence_overlap(question_terms, sentence, tokenize)
        if overlap and not (said and letters(sentence.text).lstrip("0123456789") in said):
            scored.append((-overlap, position, sentence.text))
    chosen, used = [], 0
    for _, position, sentence in sorted(scored):
        if len(chosen) == max_sentences or used + len(sentence) > max_chars:
            continue
        chosen.append((position, sentence))
        used += len(sentence)
    return [sentence for _, sentence in sorted(chosen)]


_LEAD_IN = re.compile(r"[:：]\s*(\*\*)?\s*$")  # "SiLU 函数的数学定义如下：" ends where its formula begins
_BOLD_LINE = re.compile(r"^\*\*[^*]+\*\*[:：]?$")  # "**计算步骤和python代码**": a heading in bold


def introduces_or_heads(sentence: str) -> bool:
    """A sentence that ends in a colon (what it introduces, a formula, code or a list, is not part
    of it) or is a bold line standing as a heading: quoted alone, it says nothing.

    >>> introduces_or_heads("SiLU 函数的数学定义如下："), introduces_or_heads("**计算步骤和python代码**")
    (True, True)
    >>> introduces_or_heads("**与FID的差异**：FID更偏向于对高度抽象的特征向量进行评价。")
    False
    """
    sentence = sentence.strip()
    return bool(_LEAD_IN.search(sentence) or _BOLD_LINE.match(sentence))


def sentence_overlap(question_terms: set[str], sentence: Headed, tokenize) -> float:
    """How many question terms a sentence shares, its sub-heading's counting ``HEADING_WEIGHT`` each."""
    overlap = len(question_terms & set(tokenize(sentence.text)))
    if sentence.heading:
        overlap += HEADING_WEIGHT * len(question_terms & set(tokenize(sentence.heading)))
    return overlap


def lead_sentences(text: str, max_sentences: int = 3, max_chars: int = 240) -> list[str]:
    """The first sentences of ``text`` within the limits: a section's definition and opening, for
    when no sentence shares a term with the question (an English question over Chinese notes);
    a sentence that only introduces or heads what follows is passed over."""
    chosen, used = [], 0
    for sentence in split_sentences(text):
        if introduces_or_heads(sentence):
            continue
        if len(chosen) == max_sentences or used + len(sentence) > max_chars:
            break
        chosen.append(sentence)
        used += len(sentence)
    return chosen


def quoted_sentences(index: SearchIndex, config: AnswerConfig, terms: set[str], hits: list[Hit],
                     cited: list[int], synthesis: str = "") -> list[tuple[int, str]]:
    """The key sentences an answer quotes under its synthesis: from the first two cited sections
    (or the top one), within ``config``'s limits, none the synthesis already says word for word
    (the next key sentences instead): [(source number, sentence)]."""
    if not config.quote_sentences or not hits:
        return []
    quotes: list[tuple[int, str]] = []
    budget = config.quote_chars
    for n in (cited or [1])[:2]:
        text = section_text(index, hits[n - 1])
        room = config.quote_sentences - len(quotes)
        for sentence in key_sentences(terms, text, index.tokenizer.tokenize, room, budget, synthesis):
            quotes.append((n, sentence))
            budget -= len(sentence)
    return quotes


def lead_quotes(index: SearchIndex, config: AnswerConfig, hits: list[Hit]) -> list[tuple[int, str]]:
    """The top section's opening sentences as [1] quotes (when no sentence shares a question term)."""
    if not config.quote_sentences or not hits:
        return []
    text = section_text(index, hits[0])
    return [(1, sentence) for sentence in lead_sentences(text, config.quote_sentences, config.quote_chars)]


def section_text(index: SearchIndex, hit: Hit) -> str:
    """The whole section a hit points to (its chunk's text if the section is unknown)."""
    section = index.sections.get(hit.section_ref)
    return section.text if section else hit.chunk.text


def synthesis_of(text: str) -> str:
    """An answer's text without its quotes (``compose``'s inverse for the synthesis):
    ``"A [1]\n\n资料原文要点：\n> B [1]" -> "A [1]"``; a quotes-only answer gives ""."""
    for heading in QUOTES_HEADING.values():
        if text.startswith(heading + "\n"):
            return ""
        text = text.split(f"\n\n{heading}\n", 1)[0]
    return text


def quote_line(sentence: str) -> str:
    """A sentence as quoted: without its list marker, its bold marks kept only when they pair up
    (a sentence cut from a bold run would otherwise show a stray "**").

    >>> quote_line("- **方法**：分步验证。"), quote_line("* 方法**：分步验证。"), quote_line("• 早停")
    ('**方法**：分步验证。', '方法：分步验证。', '早停')
    """
    line = re.sub(r"^\s*(?:[-*•](?=\s)|[-•])\s*", "", sentence).strip()
    return line.replace("**", "") if line.count("**") % 2 else line


def compose(synthesis: str, quotes: list[tuple[int, str]], language: str) -> str:
    """Synthesis, then the quoted sentences as a list: ``> 句子 [n]``."""
    if not quotes:
        return synthesis
    heading = QUOTES_HEADING["zh" if language == "zh" else "en"]
    lines = [f"> {quote_line(sentence)} [{n}]" for n, sentence in quotes]
    return f"{synthesis}\n\n{heading}\n" + "\n".join(lines) if synthesis else f"{heading}\n" + "\n".join(lines)
