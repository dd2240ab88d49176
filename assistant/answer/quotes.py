"""Quotes: the key sentences of the sections an answer rests on, beside the model's synthesis.

A 0.5B model paraphrases loosely and sometimes drifts; quoting the section's most relevant
sentences (marked as quotes, with their source number) keeps the answer faithful. When the notes
clearly cover the question the quotes come first, shown before the model has read its prompt
(``AnswerConfig.notes_first``); otherwise under the synthesis.

    >>> compose("L1产生稀疏解 [1]", [(1, "L1正则使权重稀疏。")], "zh")
    'L1产生稀疏解 [1]\\n\\n资料原文要点：\\n> L1正则使权重稀疏。 [1]'
    >>> compose("L1产生稀疏解 [1]", [(1, "L1正则使权重稀疏。")], "zh", notes_first=True)
    '资料原文要点：\\n> L1正则使权重稀疏。 [1]\\n\\n归纳：\\nL1产生稀疏解 [1]'
"""

from __future__ import annotations

import re
from typing import NamedTuple

from index import Hit, SearchIndex

from assistant.answer.settings import AnswerConfig
from assistant.text import Headed, headed_sentences, letters, split_sentences, without_code

HEADING_WEIGHT = 0.5  # a question term in a sentence's sub-heading counts this much of one in the sentence
# (dev, quotes alone: key-point recall 0.537 -> 0.601; weight 1.0: 0.597)
QUOTES_HEADING = {"zh": "资料原文要点：", "en": "From the notes:"}  # the line above an answer's quotes
SYNTHESIS_HEADING = {"zh": "归纳：", "en": "In short:"}  # the line above the synthesis under the quotes


def key_sentences(question_terms: set[str], text: str, tokenize, max_sentences: int = 3, max_chars: int = 240,
                  said: str = "", fill: bool = False) -> list[str]:
    """The sentences of ``text`` sharing most terms with the question, in their original order.

    A term in the sub-heading a sentence stands under counts ``HEADING_WEIGHT`` of one in the
    sentence: the notes name a method in a heading ("早停法") and explain it in sentences that do
    not repeat the name. Ties go to earlier sentences (definitions come first in this corpus); the
    total stays within max_chars, and a sentence sharing no term, itself or by its heading, is
    not chosen (but see ``fill``); nor one that ``said`` (e.g. the answer's synthesis) already contains word for
    word (letters and digits compared: list markers, emphasis, spaces and punctuation aside); nor
    one that only introduces or heads what follows (``introduces_or_heads``); a sentence that
    opens with a word pointing back ("它", "其中", "这种") only right after the one it points to.
    With ``fill``, room the sharing sentences leave goes to the others, in the section's order: the
    notes answer the question their heading asks from their first lines, which need not repeat its
    words ("3DMM是一种基于统计模型的三维人脸重建方法…" under "What is a 3D Morphable Model"), up to the
    first that does not fit; not to one about a figure ("如上图所示…") or one that only says what the
    notes do next ("接下来…"), and not when no sentence shares a term (the section may not be about the
    question at all), whether or not ``said`` holds those that do.
    """
    said = letters(said)
    scored, shares = [], False
    for position, sentence in enumerate(headed_sentences(text)):
        if introduces_or_heads(sentence.text):
            continue
        overlap = sentence_overlap(question_terms, sentence, tokenize)
        shares = shares or bool(overlap)
        if (overlap or fill and not _NOT_FILL.search(sentence.text)) \
                and not (said and letters(sentence.text).lstrip("0123456789") in said):
            scored.append((-overlap, position, sentence.text))
    if not shares:  # no sentence is about the question: none is quoted
        return []
    chosen, used = [], 0
    leans = {position: bool(_POINTS_BACK.match(_LIST_MARKER.sub("", sentence))) for _, position, sentence in scored}
    after = {position - 1: (overlap, position, sentence) for overlap, position, sentence in scored if leans[position]}

    def fits(sentence: str) -> bool:
        return len(chosen) < max_sentences and used + len(sentence) <= max_chars

    # a sentence whose subject is the one before it ("它在损失函数中加入了…") is quoted only after it;
    # sentences sharing no term (with ``fill``) come after those that do, in order, until one does not
    # fit, each with the sharing sentence that points back to it, if any
    for sharing, leaning in ((True, False), (True, True), (False, False), (False, True)):
        for overlap, position, sentence in sorted(scored):
            if bool(overlap) != sharing or leans[position] != leaning or (position, sentence) in chosen:
                continue
            if leaning and position - 1 not in {at for at, _ in chosen}:
                continue
            if not fits(sentence):
                if sharing or leaning:
                    continue
                break  # the fill stops at the first sentence that does not fit: the opening, not what follows it
            chosen.append((position, sentence))
            used += len(sentence)
            if not sharing and position in after and after[position][0] and fits(after[position][2]):
                chosen.append(after[position][1:])
                used += len(after[position][2])
    return [sentence for _, sentence in sorted(chosen)]


_LEAD_IN = re.compile(r"[:：]\s*(\*\*)?\s*$")  # "SiLU 函数的数学定义如下：" ends where its formula begins
# a sentence whose subject is only in the one before it: "它…", "其中…", "这种方法…" ("该指标…" names its kind,
# "这是因为…" gives a reason: they read on their own)
_POINTS_BACK = re.compile(r"^(?:它|其|此(?!外)|这(?!是因为|是由于)|那|上述|上面)")
# not for the fill: a sentence about a figure the quote cannot show ("如上图所示,最优的 w 在绿色的点处", "见下图",
# "图3中"; not "如图像" or "例如图卷积"), or one that only says what the notes go on to do ("接下来，Rocky就带着大家
# 完整拆解…")
_NOT_FILL = re.compile(r"(?:如|见)[上下左右]图|如图\s*(?:所示|\d)|(?<![际以加向])[上下]图(?:所示|中)|图\s*\d"
                       r"|\b(?:fig\.|figure\s*\d|the (?:figure|image) (?:above|below))"
                       r"|^(?:[-*+•]\s*)?(?:接下来|下面)[^。]{0,16}(?:拆解|介绍|讲解|讲讲|来看|带着大家)", re.I)
_LIST_MARKER = re.compile(r"^(?:[-*+•]\s+|\d+[.、)）]\s*)")
_CAPTION = re.compile(r"^\([a-z]\)\s[^\u4e00-\u9fff]*$")  # "(a) Standard Neural Net": a figure's caption
_BOLD_LINE = re.compile(r"^\*\*[^*]+\*\*[:：]?$")  # "**计算步骤和python代码**": a heading in bold
MAX_LINK_LEAD_IN = 20  # characters before a link in a sentence that only points to it
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\([^)\s]*\)|<?https?://\S+?>?(?=[\s，。；)）]|$)")  # [text](url), a bare url


def introduces_or_heads(sentence: str) -> bool:
    """A sentence that ends in a colon (what it introduces, a formula, code or a list, is not part
    of it), is a bold line standing as a heading (a list item's too), is a figure's caption
    ("(b) After applying dropout!"), or only points to a link ("论文链接：https://…", "更多详细内容，
    大家可以查阅：[…](…)": with its links taken out it is a lead-in or nothing): quoted alone, it
    says nothing.

    >>> introduces_or_heads("SiLU 函数的数学定义如下："), introduces_or_heads("- **计算步骤和python代码**")
    (True, True)
    >>> introduces_or_heads("(b) After applying dropout!"), introduces_or_heads("(1) 训练时随机失活。")
    (True, False)
    >>> introduces_or_heads("**与FID的差异**：FID更偏向于对高度抽象的特征向量进行评价。")
    False
    >>> introduces_or_heads("论文链接：https://arxiv.org/pdf/2010.02502.pdf"), introduces_or_heads("💡 [链接](https://a.b/c)")
    (True, True)
    >>> introduces_or_heads("DDIM（[论文](https://arxiv.org/abs/2010.02502)）把采样步数降到了几十步。")
    False
    >>> introduces_or_heads("DDIM把采样步数从1000步降到了几十步，论文见：https://arxiv.org/abs/2010.02502")
    False
    """
    sentence = _LIST_MARKER.sub("", sentence.strip())
    if _LEAD_IN.search(sentence) or _BOLD_LINE.match(sentence) or _CAPTION.match(sentence):
        return True
    unlinked = _LIST_MARKER.sub("", _LINK.sub("", sentence).strip()).rstrip("。.;；")
    # what is left of it is nothing, or a short lead-in: "论文链接：", "更多详细内容，大家可以查阅："
    return unlinked != sentence and (not letters(unlinked) or len(unlinked) <= MAX_LINK_LEAD_IN
                                     and bool(_LEAD_IN.search(unlinked)))


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


LIST_QUESTION = re.compile(
    r"有哪些|哪几|哪些|怎么办|怎么救|怎么解决|如何解决|怎么处理|如何处理|怎么避免|如何避免|怎么缓解|如何缓解|怎么改进|"
    r"方法|办法|手段|措施|途径|策略|步骤|技巧|"
    r"\bwhat (?:are|kinds?|types?) (?:of |the )?(?:ways|methods|kinds|types|techniques|approaches|strategies|steps|"
    r"tricks|solutions|options)\b|\bwhich (?:methods|techniques|ways|approaches|tricks|steps)\b|"
    r"\bhow (?:do|can|could|should) (?:you|we|i|one) (?:fix|solve|handle|avoid|prevent|reduce|deal|mitigate|improve)|"
    r"\bhow to (?:fix|solve|handle|avoid|prevent|reduce|deal|mitigate|improve)|\bways? to\b|"
    r"\b(?:methods?|techniques?|strategies|approaches|steps) (?:to|for)\b", re.I)
_CONDITION = re.compile(r"^(?:如果|若|当|假如|假设|if\b|when\b)", re.I)  # an item that is a condition, not a name
_NUMBERING = r"(?:\d{1,2}[.、)）]|[（(]\d{1,2}[)）]|[一二三四五六七八九十]{1,2}[、.])\s*"  # "1.", "（2）", "三、"
_ITEM = re.compile(rf"^\s*(?:[-*+•]\s*)?{_NUMBERING}(\S.*)$|^\s*[-*+•]\s+(\S.*)$")
_HEAD_END = re.compile(r"[。；;：:，,（(]")
OUTLINE_ITEMS = 3  # a list of fewer items is quoted sentence by sentence
ITEM_HEAD_CHARS = 24  # an item whose first clause is longer is a sentence, not a name: no outline
LEAD_CHARS = 40  # a longer lead-in is not shown as the outline's label


class ListBlock(NamedTuple):
    """A list in a section: the line that heads it ("#### 解决过拟合的方法:", "优点：" or "") and
    the first clause of each item ("增加训练样本数量")."""

    heading: str
    heads: tuple[str, ...]


def list_blocks(text: str) -> list[ListBlock]:
    """The lists of a section (code and display formulas aside), each under the heading or lead-in
    line before it; an item's head is its first clause, bold marks dropped. Sub-headings numbered
    as a list ("#### 一、L1 正则化", "#### 二、L2 正则化", …) are one more list, of their titles, at
    one heading level and under the heading above them ("### 二、核心方法" heads "#### 1. 增强时空建模",
    "#### 2. 优化训练策略", …; a shallower heading ends the list) or the lead-in line before them.

    >>> list_blocks("#### 方法:\\n- 1. 清洗数据,数据不纯。\\n- 2. 增加样本。\\n3. 正则化。")
    [ListBlock(heading='方法', heads=('清洗数据', '增加样本', '正则化'))]
    """
    text = without_code(text)
    blocks: list[ListBlock] = []
    heading, heads = "", []  # heads: (indent, numbered, first clause) of each item so far
    # sub-headings numbered as a list ("#### 一、L1 正则化", "#### 二、…"): level -> (their label, titles so far)
    numbered: dict[int, tuple[str, list[str]]] = {}
    labels: list[tuple[int, str]] = []  # (heading level, or 0 for a lead-in line; label) of the lines read

    def end_numbered(deeper_than: int):
        for level in sorted(level for level in numbered if level > deeper_than):
            label, titles = numbered.pop(level)
            if len(titles) >= OUTLINE_ITEMS:
                blocks.append(ListBlock(label, tuple(titles)))

    def close():
        if heads:  # a nested list's sub-items aside: the items at the list's own indent, marked as its first is
            top = min(indent for indent, _, _ in heads)
            kind = next(is_numbered for indent, is_numbered, _ in heads if indent == top)
            blocks.append(ListBlock(heading, tuple(head for indent, is_numbered, head in heads
                                                   if indent == top and is_numbered == kind)))

    for line in text.split("\n"):
        stripped = line.strip()
        item = _ITEM.match(stripped) if stripped else None
        if item:
            body = (item.group(1) or item.group(2)).replace("**", "").replace("__", "").strip()
            head = _HEAD_END.split(body, maxsplit=1)[0].strip()
            heads.append((len(line) - len(line.lstrip()), item.group(1) is not None, head))
        elif stripped.startswith("#") or re.search(r"[:：]\s*(\*\*)?$", stripped):
            close()
            level = len(stripped) - len(stripped.lstrip("#"))
            label = re.sub(r"^#+\s*", "", stripped.replace("**", "")).strip()
            if level:
                end_numbered(level if _ITEM.match(label) else level - 1)
                if _ITEM.match(label):
                    above = next((text for at, text in reversed(labels) if at < level), "")
                    numbered.setdefault(level, (above, []))[1].append(
                        _HEAD_END.split(_ITEM.match(label).group(1), maxsplit=1)[0].strip())
            label = _lead(label)
            labels.append((level, label))
            heading, heads = label, []
    close()
    end_numbered(0)
    return blocks


def _lead(line: str) -> str:
    """A heading or lead-in line as an outline's label: its last sentence, without its numbering
    and closing colon, "" when that is longer than ``LEAD_CHARS``: "…。深度学习中的正则化方法主要有以下几种:"
    -> "深度学习中的正则化方法主要有以下几种"."""
    last = [part for part in re.split(r"(?<=[。！？!?])", line) if part.strip()][-1:] or [""]
    label = re.sub("^" + _NUMBERING, "", last[0].strip())
    label = re.sub(r"[:：]\s*$", "", label).strip()
    return label if len(label) <= LEAD_CHARS else ""


def list_outline(question: str, question_terms: set[str], text: str, tokenize) -> str:
    """For a question that asks for methods, kinds or steps (``LIST_QUESTION``), the section's
    list that shares most terms with it (the longest among equals), as one line of its items' heads: "解决过拟合的方法：重新清洗
    数据；增加训练样本数量；…". "" when the question asks for no list, or no list of at least
    ``OUTLINE_ITEMS`` short items shares a term with the question: a learner asked for the ways
    gets all of them, not the two sentences that happen to repeat the question's words."""
    if not LIST_QUESTION.search(question):
        return ""
    best, best_overlap = None, (0, 0)
    for block in list_blocks(text):
        if len(block.heads) < OUTLINE_ITEMS or any(not head or len(head) > ITEM_HEAD_CHARS or _CONDITION.match(head)
                                                   for head in block.heads):
            continue
        overlap = len(question_terms & set(tokenize(block.heading + "\n" + "\n".join(block.heads))))
        if overlap and (overlap, len(block.heads)) > best_overlap:  # among equals, the list naming more ways
            best, best_overlap = block, (overlap, len(block.heads))
    if best is None:
        return ""
    items = "；".join(dict.fromkeys(best.heads))
    return f"{best.heading}：{items}。" if best.heading else f"{items}。"


def quoted_sentences(index: SearchIndex, config: AnswerConfig, terms: set[str], hits: list[Hit],
                     cited: list[int], synthesis: str = "", question: str = "") -> list[tuple[int, str]]:
    """The key sentences an answer quotes under its synthesis: from the first two cited sections
    (or the top one), within ``config``'s limits, none the synthesis already says word for word
    (the next key sentences instead): [(source number, sentence)]. When the answer quotes from the
    top section (source 1) alone, room its sentences sharing a question term leave goes to its
    others, in order (``fill``).
    For a ``question`` that asks for a list (``list_outline``), the first section's list comes
    first, as one line of its items."""
    if not config.quote_sentences or not hits:
        return []
    quotes: list[tuple[int, str]] = []
    budget = config.quote_chars
    outlined = False
    quoted = (cited or [1])[:2]
    for n in quoted:
        text = section_text(index, hits[n - 1])
        said = synthesis
        if config.quote_lists and question and not outlined:
            outline = list_outline(question, terms, text, index.tokenizer.tokenize)
            if outline and len(outline) <= budget and not (synthesis and letters(outline) in letters(synthesis)):
                quotes.append((n, outline))
                budget -= len(outline)
                said, outlined = synthesis + "\n" + outline, True
        room = config.quote_sentences - len(quotes)
        # the top section's room is filled when the answer quotes from it alone: beside another, that one keeps its room
        for sentence in key_sentences(terms, text, index.tokenizer.tokenize, room, budget, said, fill=quoted == [1]):
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
    ``"A [1]\n\n资料原文要点：\n> B [1]" -> "A [1]"``, ``"资料原文要点：\n> B [1]\n\n归纳：\nA [1]" -> "A [1]"``;
    a quotes-only answer gives ""."""
    for heading in SYNTHESIS_HEADING.values():
        if f"\n\n{heading}\n" in text:
            synthesis = text.split(f"\n\n{heading}\n", 1)[1]
            for quotes in QUOTES_HEADING.values():  # the quotes of another source under it
                synthesis = synthesis.split(f"\n\n{quotes}\n", 1)[0]
            return synthesis
    for heading in QUOTES_HEADING.values():
        if text.startswith(heading + "\n"):
            return ""
        text = text.split(f"\n\n{heading}\n", 1)[0]
    return text


def quote_line(sentence: str) -> str:
    """A sentence as quoted: without its list marker (a bullet, or a number that would place it in
    a list the quotes do not show: "2. 进行梯度截断。" quoted alone) or the notes' own blockquote
    mark (it would show as "> >…"), its bold marks kept only when they pair up (a sentence cut from
    a bold run would otherwise show a stray "**").

    >>> quote_line("- **方法**：分步验证。"), quote_line("* 方法**：分步验证。"), quote_line("• 早停")
    ('**方法**：分步验证。', '方法：分步验证。', '早停')
    >>> quote_line("2. 进行梯度截断。"), quote_line("(3) 早停"), quote_line("0.001是常用的学习率。")
    ('进行梯度截断。', '早停', '0.001是常用的学习率。')
    >>> quote_line("（1）提问；（2）解析问题。")  # a whole list in one sentence keeps its numbers
    '（1）提问；（2）解析问题。'
    >>> quote_line(">以BLIP-2为代表的Q-Former结构…"), quote_line("> - 早停"), quote_line(">1 查全率影响更大")
    ('以BLIP-2为代表的Q-Former结构…', '早停', '>1 查全率影响更大')
    """
    line = re.sub(r"^\s*(?:>(?![\d=<>])\s*)+", "", sentence)  # not ">1 查全率影响更大" (β>1 split at "。")
    line = re.sub(r"^\s*(?:[-*•](?=\s)|[-•])\s*", "", line).strip()
    number = re.match(r"(\d{1,2})[.、)）](?!\d)\s*|[（(](\d{1,2})[)）]\s*", line)
    if number:
        following = str(int(number.group(1) or number.group(2)) + 1)
        if not re.search(rf"(?<!\d){following}[.、)）](?!\d)|[（(]{following}[)）]", line[number.end():]):
            line = line[number.end():]
    return line.replace("**", "") if line.count("**") % 2 else line


def compose(synthesis: str, quotes: list[tuple[int, str]], language: str, notes_first: bool = False,
            after: list[tuple[int, str]] = ()) -> str:
    """Synthesis, then the quoted sentences as a list: ``> 句子 [n]``; ``notes_first``: the quotes,
    then the synthesis under ``SYNTHESIS_HEADING``, then the quotes ``after`` it (of another
    source it cites) under the quotes' heading again."""
    if not quotes:
        return synthesis
    language = "zh" if language == "zh" else "en"
    if not synthesis:
        return quote_block(quotes, language)
    if notes_first:
        text = f"{quote_block(quotes, language)}\n\n{SYNTHESIS_HEADING[language]}\n{synthesis}"
        return f"{text}\n\n{quote_block(after, language)}" if after else text
    return f"{synthesis}\n\n{quote_block(quotes, language)}"


def quote_block(quotes: list[tuple[int, str]], language: str) -> str:
    """``"资料原文要点：\n> 句子 [1]"``: the quotes' heading and one line per quote."""
    heading = QUOTES_HEADING["zh" if language == "zh" else "en"]
    return f"{heading}\n" + "\n".join(f"> {quote_line(sentence)} [{n}]" for n, sentence in quotes)
