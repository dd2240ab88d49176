"""Compose the answer a user sees: the model's short synthesis plus key sentences quoted from the
cited section, and check that the synthesis is grounded in the sources.

A 0.5B model paraphrases loosely and sometimes drifts; quoting the section's most relevant
sentences (marked as quotes, with their source number) keeps the answer faithful and short.

    >>> split_sentences("过拟合：训练好。测试差！\\n- 1. 加数据")
    ['过拟合：训练好。', '测试差！', '- 1. 加数据']
"""

from __future__ import annotations

import re
from typing import NamedTuple

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_CODE = re.compile(r"```.*?```", re.S)
_FORMULA = re.compile(r"\$\$.*?\$\$", re.S)
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_UNFINISHED_CITATION = re.compile(r"\[\d*$")  # "... [" or "... [1": a reply stopped mid-citation
_TITLE = re.compile(r"《[^》\n]*》")
_NOT_CONTENT = re.compile(r"[\s\W_]+")  # spaces and punctuation


HEADING_WEIGHT = 0.5  # a question term in a sentence's sub-heading counts this much of one in the sentence
# (dev, quotes alone: key-point recall 0.537 -> 0.601; weight 1.0: 0.597)


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of a section, without code blocks and display formulas."""
    return [sentence.text for sentence in headed_sentences(text)]


class Headed(NamedTuple):
    """A sentence, the sub-heading line it stands under ("" before the first) and that heading's
    group number (0 before the first; two "#### 方法:" headings are two groups)."""

    text: str
    heading: str
    group: int


def headed_sentences(text: str, heading: str = "") -> list[Headed]:
    """``split_sentences`` with the sub-heading each sentence stands under; ``heading``: the one
    ``text`` starts under (a chunk that begins inside a sub-heading's text).
    ``"#### 五、早停法\n监控验证集。"`` -> ``[Headed("监控验证集。", "#### 五、早停法", 1)]``."""
    text = _FORMULA.sub(" ", _CODE.sub(" ", text))
    sentences, group = [], 0
    for line in text.split("\n"):
        if line.strip().startswith("#"):  # a heading line; its text after a "？" stays a sentence, as it was
            heading, group = line.strip(), group + 1
        for piece in _SENTENCE.findall(line):
            piece = piece.strip()
            if len(piece) >= 4 and not piece.startswith("#"):
                sentences.append(Headed(piece, heading, group))
    return sentences


def key_sentences(question_terms: set[str], text: str, tokenize, max_sentences: int = 3, max_chars: int = 240,
                  said: str = "") -> list[str]:
    """The sentences of ``text`` sharing most terms with the question, in their original order.

    A term in the sub-heading a sentence stands under counts ``HEADING_WEIGHT`` of one in the
    sentence: the notes name a method in a heading ("早停法") and explain it in sentences that do
    not repeat the name. Ties go to earlier sentences (definitions come first in this corpus); the
    total stays within max_chars, and a sentence sharing no term, itself or by its heading, is
    never chosen; nor one that ``said`` (e.g. the answer's synthesis) already contains word for
    word (letters and digits compared: list markers, emphasis, spaces and punctuation aside).
    """
    said = letters(said)
    scored = []
    for position, sentence in enumerate(headed_sentences(text)):
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


def letters(text: str) -> str:
    """``"2. **L1 正则**，为什么稀疏？" -> "2l1正则为什么稀疏"``: letters (CJK included) and digits only, lower case."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def sentence_overlap(question_terms: set[str], sentence: Headed, tokenize) -> float:
    """How many question terms a sentence shares, its sub-heading's counting ``HEADING_WEIGHT`` each."""
    overlap = len(question_terms & set(tokenize(sentence.text)))
    if sentence.heading:
        overlap += HEADING_WEIGHT * len(question_terms & set(tokenize(sentence.heading)))
    return overlap


def trim_source(text: str, question_terms: set[str], tokenize, max_chars: int, heading: str = "",
                preferred: frozenset[str] = frozenset()) -> str:
    """``text`` cut to at most ``max_chars`` characters for the model's prompt: its first sentence
    (a section's opening defines its subject), then the sentences sharing most terms with the
    question (their sub-heading's terms counting as in ``key_sentences``), then the rest in order
    while they fit; kept in their original order, one per line, each group under its sub-heading
    line ("#### 五、早停法", which counts toward the limit; ``heading``: the one ``text`` starts
    under). Code blocks and display formulas are dropped. When no sentence fits (an English
    paragraph is one "sentence" here), the text's first ``max_chars`` characters. Text within the
    limit, or max_chars 0: unchanged. Among sentences sharing as many terms, those in ``preferred``
    (the passage retrieval matched, within a whole section) go first: an English question shares
    few terms with Chinese notes, and its cross-lingual match says which part of a section it is about.

        trim_source("L1是绝对值之和。L2是平方和。L1产生稀疏解。", {"稀", "疏"}, list, 20)
        -> "L1是绝对值之和。\nL1产生稀疏解。"
    """
    if not max_chars or len(text) <= max_chars:
        return text
    sentences = headed_sentences(text, heading)
    overlap = [sentence_overlap(question_terms, sentence, tokenize) for sentence in sentences]
    chosen, groups, used = set(), set(), -1  # each line after the first adds a line break
    for i in sorted(range(len(sentences)), key=lambda i: (i > 0, -overlap[i], sentences[i].text not in preferred, i)):
        sentence = sentences[i]
        shows_heading = sentence.heading and sentence.group not in groups
        cost = 1 + len(sentence.text) + (len(sentence.heading) + 1 if shows_heading else 0)
        if used + cost <= max_chars:
            chosen.add(i)
            groups.add(sentence.group)
            used += cost
    if not chosen:
        return text[:max_chars].strip()
    lines, shown = [], set()
    for i in sorted(chosen):
        sentence = sentences[i]
        if sentence.heading and sentence.group not in shown:
            lines.append(sentence.heading)
            shown.add(sentence.group)
        lines.append(sentence.text)
    return "\n".join(lines)


def lead_sentences(text: str, max_sentences: int = 3, max_chars: int = 240) -> list[str]:
    """The first sentences of ``text`` within the limits: a section's definition and opening, for
    when no sentence shares a term with the question (an English question over Chinese notes)."""
    chosen, used = [], 0
    for sentence in split_sentences(text):
        if len(chosen) == max_sentences or used + len(sentence) > max_chars:
            break
        chosen.append(sentence)
        used += len(sentence)
    return chosen


def groundedness(answer: str, source_terms: set[str] | frozenset[str], tokenize) -> float:
    """Share of the answer's terms that occur in the sources' terms, in [0, 1]; 1.0 for an empty answer.

    ("鞍点是梯度为零的点", terms of "鞍点：梯度为零…") -> 1.0; an invented answer on another topic -> low.
    """
    terms = set(tokenize(_CITATION.sub(" ", answer)))
    if not terms:
        return 1.0
    return len(terms & source_terms) / len(terms)


def cross_language_groundedness(answer: str, source_terms: set[str] | frozenset[str],
                                 vocabulary: set[str] | frozenset[str], tokenize, glossary_terms) -> float:
    """``groundedness`` for an English answer over Chinese notes, where most of its words cannot
    occur in the sources: the share of its checkable terms found in the sources. Checkable are
    the glossary phrases it uses, each found when one of the corpus terms it translates to (or
    its own words) is in the sources ("oversampling" -> 过采样), and the other words the corpus
    itself uses ("ReLU", "LSTM"). 0.0 when nothing in the answer can be checked.
    """
    text = _CITATION.sub(" ", answer)
    units, phrase_words = [], set()
    for phrase, terms in glossary_terms(text):
        words = set(tokenize(phrase))
        units.append(words | set(terms))
        phrase_words |= words
    units += [{word} for word in dict.fromkeys(tokenize(text))
              if word in vocabulary and word not in phrase_words and not word.isdigit()]
    if not units:
        return 0.0
    return sum(bool(unit & source_terms) for unit in units) / len(units)


def drop_source_headers(text: str) -> str:
    """``text`` without the lines that only restate source headers: a small model sometimes answers
    "[1] 《数据类别不平衡怎么处理?》 [2] 《L范数的作用?》" (the prompt's numbering echoed), which says
    nothing and cites every source. A title named inside a sentence stays."""
    def only_headers(line: str) -> bool:
        return bool(_TITLE.search(line)) and not _NOT_CONTENT.sub("", _TITLE.sub("", _CITATION.sub("", line)))

    return "\n".join(line for line in text.splitlines() if not only_headers(line)).strip()


def line_key(line: str) -> str:
    """What two lines of a reply are compared by: ``"过采样 [1]" -> "过采样"`` (citations, an unfinished
    one at the end, and spacing aside)."""
    return _UNFINISHED_CITATION.sub("", re.sub(r"\s+", "", _CITATION.sub("", line)))


def drop_repeated_lines(text: str) -> str:
    """``text`` without the lines that repeat an earlier one (citations and spacing aside): a small
    model that loops writes the same point two or three times. The last line (it may be unfinished)
    goes too when an earlier line starts like it: a reply stopped at a repeat
    (``generation.RepeatedLine``) may have begun the next repeat in the same step (prompt lookup
    accepts several tokens at once): "…效果。 [1]\n…效果。 [1]\n…效果。 [" keeps one line."""
    lines = text.splitlines()
    unfinished = lines.pop() if lines and not text.endswith("\n") else None
    seen, kept = set(), []
    for line in lines:
        key = line_key(line)
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(line)
    key = line_key(unfinished or "")
    if unfinished is not None and not (key and any(earlier.startswith(key) for earlier in seen)):
        kept.append(unfinished)
    return "\n".join(kept).strip()


def holders(line: str, sources: list[str]) -> list[int]:
    """The 1-based numbers of the ``sources`` (already ``letters``) that hold ``line`` word for word,
    its citations aside and a list item's number too: ("3. 过采样。 [1]", ["l2", "1过采样"]) -> [2]."""
    body = letters(_CITATION.sub("", line)).lstrip("0123456789")
    return [n for n, text in enumerate(sources, start=1) if body and body in text]


def recite_copied_lines(synthesis: str, sources: list[str]) -> str:
    """Each line that copies a source word for word (``holders``) but cites only sources that do
    not hold it cites the first one that does instead: the adapter learnt to cite [1], and 84 of
    the 215 lines it copied on dev cited a source that does not hold them (session 14,
    ``benchmarks/citation_sources.py``).

        recite_copied_lines("L1产生稀疏解。 [1]", ["L2是平方和。", "L1产生稀疏解。"]) -> "L1产生稀疏解。 [2]"
    """
    held = [letters(text) for text in sources]
    lines = []
    for line in synthesis.split("\n"):
        cited = {int(n) for match in _CITATION.findall(line) for n in re.findall(r"\d+", match)}
        found = holders(line, held)
        if cited and found and not cited & set(found):
            first, *rest = _CITATION.split(line)  # the first marker cites the holder, the others go
            line = (first + f"[{found[0]}]" + "".join(rest)).rstrip()
        lines.append(line)
    return "\n".join(lines)


QUOTES_HEADING = {"zh": "资料原文要点：", "en": "From the notes:"}  # the line above an answer's quotes


def synthesis_of(text: str) -> str:
    """An answer's text without its quotes (``compose``'s inverse for the synthesis):
    ``"A [1]\n\n资料原文要点：\n> B [1]" -> "A [1]"``; a quotes-only answer gives ""."""
    for heading in QUOTES_HEADING.values():
        if text.startswith(heading + "\n"):
            return ""
        text = text.split(f"\n\n{heading}\n", 1)[0]
    return text


def compose(synthesis: str, quotes: list[tuple[int, str]], language: str) -> str:
    """Synthesis, then the quoted sentences as a list: ``> 句子 [n]``."""
    if not quotes:
        return synthesis
    heading = QUOTES_HEADING["zh" if language == "zh" else "en"]
    lines = [f"> {sentence.lstrip('-* ').strip()} [{n}]" for n, sentence in quotes]
    return f"{synthesis}\n\n{heading}\n" + "\n".join(lines) if synthesis else f"{heading}\n" + "\n".join(lines)
