"""Checks on the model's reply before it is shown: what it says must come from its sources.

- ``drop_source_headers``, ``drop_repeated_lines``: lines that say nothing or say it again go.
- ``recite_copied_lines``: a line copied from a source cites that source.
- ``repeats_quotes``: a line that only repeats the quotes shown above it goes.
- ``groundedness`` / ``cross_language_groundedness``: the share of the reply's terms the sources
  hold; a reply under ``AnswerConfig.min_grounding`` is doubtful.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from assistant.citations import CITATION, citation_numbers, strip_citations
from assistant.text import LIST_ITEM, letters, line_key

_TITLE = re.compile(r"《[^》\n]*》")
_NOT_CONTENT = re.compile(r"[\s\W_]+")  # spaces and punctuation
_PUNCTUATION_ONLY = re.compile(r"[\s:：;；,，.。、!！?？…]+")  # sentence punctuation, not "$$", "|---|" or "}"
_HEADING_MARK = re.compile(r"^#{2,6}\s+")  # a markdown heading's "### " ("# " may be a code comment)


def groundedness(answer: str, source_terms: set[str] | frozenset[str], tokenize) -> float:
    """Share of the answer's terms that occur in the sources' terms, in [0, 1]; 1.0 for an empty answer.

    ("鞍点是梯度为零的点", terms of "鞍点：梯度为零…") -> 1.0; an invented answer on another topic -> low.
    """
    terms = set(tokenize(strip_citations(answer, " ")))
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
    text = strip_citations(answer, " ")
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
    nothing and cites every source; so does a line of sentence punctuation alone (":"). A title named
    inside a sentence stays. A heading mark copied from the notes ("### 而sigmoid的导数…") goes,
    keeping the line: it would show as a heading. Lines inside a code fence are left as they are."""
    def only_headers(line: str) -> bool:
        bare = strip_citations(line)
        return bool(_TITLE.search(line)) and not _NOT_CONTENT.sub("", _TITLE.sub("", bare)) \
            or bool(_PUNCTUATION_ONLY.fullmatch(bare))

    kept, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            if only_headers(line):
                continue
            line = _HEADING_MARK.sub("", line)
        kept.append(line)
    return "\n".join(kept).strip()


def drop_repeated_lines(text: str) -> str:
    """``text`` without the lines that repeat an earlier one (citations and spacing aside): a small
    model that loops writes the same point two or three times. The last line (it may be unfinished)
    goes too when an earlier line starts like it: a reply stopped at a repeat
    (``transformers_backend.RepeatedLine``) may have begun the next repeat in the same step (prompt lookup
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


_CITED_END = re.compile(r"\[\d+\]\s*$")
_INTRODUCES = re.compile(r"[:：]\s*$")
_FINISHED = re.compile(r"(\[\d+\]|[。．.!?！？…」』”\"')）)\]$*`])\s*$")  # a sentence end, a citation or a formula


def drop_unfinished_line(text: str) -> str:
    """``text`` without a last line that breaks off mid-sentence, as a reply stopped at the token
    limit does ("…适用于特征数量较多但可能只有一部分特征", "…加入到损失函数中。 [1"): the reply's other
    lines each end with a citation or a sentence end (at least one with a citation), or introduce a
    line that is not a list item ("…如下图所示:"), and this one ends with neither. A reply written as
    plain items without citations keeps its last item.

    ``"过拟合是……。 [1]\n增加数据。 [1]\n给模型的参数加上一定的正则约束，比如 [1"`` -> the first two lines.
    A last line that introduces what never came ("例如： [1]") goes too, also one the cut leaves last.
    """
    lines = [line for line in text.strip().splitlines() if line.strip()]
    earlier = lines[:-1]
    closed = all(_FINISHED.search(line) or (_INTRODUCES.search(strip_citations(line)) and not LIST_ITEM.match(after))
                 for line, after in zip(earlier, lines[1:]))
    cut = bool(earlier) and not _FINISHED.search(lines[-1]) and closed \
        and any(_CITED_END.search(line) for line in earlier)
    if cut:
        lines = earlier
    while lines and _INTRODUCES.search(strip_citations(lines[-1])):  # "例如： [1]" introduces what never came
        lines.pop()
        cut = True
    return "\n".join(lines) if cut else text.strip()


REPEAT_SHARE = 0.85  # a line this much of whose letters a quoted sentence holds, in order, repeats it


def repeats_quotes(line: str, quoted: list[str]) -> bool:
    """Whether ``line`` only repeats one of the ``quoted`` sentences (already ``letters``): at least
    ``REPEAT_SHARE`` of its letters occur in that sentence, in order, in runs of two or more
    (citations and list number aside), so a copy that drops or changes a word or two counts, and
    so does the start of one:
    ("2. 过采样。 [1]", ["对少数类别做过采样"]) -> True; ("一般文本切分", ["一般的文本切分可以按照字符"]) -> True."""
    body = letters(strip_citations(line)).lstrip("0123456789")
    if not body:
        return False
    for sentence in quoted:
        if body in sentence:
            return True
        blocks = SequenceMatcher(None, body, sentence, autojunk=False).get_matching_blocks()
        if sum(block.size for block in blocks if block.size > 1) >= REPEAT_SHARE * len(body):  # no stray letters
            return True
    return False


def holders(line: str, sources: list[str]) -> list[int]:
    """The 1-based numbers of the ``sources`` (already ``letters``) that hold ``line`` word for word,
    its citations aside and a list item's number too: ("3. 过采样。 [1]", ["l2", "1过采样"]) -> [2]."""
    body = letters(strip_citations(line)).lstrip("0123456789")
    return [n for n, text in enumerate(sources, start=1) if body and body in text]


def recite_copied_lines(synthesis: str, sources: list[str]) -> str:
    """Each line that copies a source word for word (``holders``) but cites only sources that do
    not hold it cites the first one that does instead (a small model tends to cite [1] whatever
    it copies).

        recite_copied_lines("L1产生稀疏解。 [1]", ["L2是平方和。", "L1产生稀疏解。"]) -> "L1产生稀疏解。 [2]"
    """
    held = [letters(text) for text in sources]
    lines = []
    for line in synthesis.split("\n"):
        cited = {n for mark in CITATION.finditer(line) for n in citation_numbers(mark)}
        found = holders(line, held)
        if cited and found and not cited & set(found):
            first, *rest = CITATION.split(line)[::2]  # the first mark cites the holder, the others go
            line = (first + f"[{found[0]}]" + "".join(rest)).rstrip()
        lines.append(line)
    return "\n".join(lines)
