"""Two sources that ask the same question of opposite things, and which one an answer is about.

The notes answer "什么是过拟合,解决过拟合的方法有哪些?" and "什么是欠拟合,解决欠拟合的方法有哪些?" with the
same kind of list, and retrieval gives both for a question on either. A small model then copies a
remedy from the wrong one ("增加模型复杂度" for an overfit model): every clause is the notes' own, so
no near-copy check sees it, yet the line says the opposite of what the learner should do. Sources
whose titles are the same but for one pair of opposites (``opposites.tsv``) form a pair; the answer
is about one side of it, and a clause only the other side holds is cut.

    >>> pair = OppositeSources(["正则化的作用?", "什么是欠拟合?", "什么是过拟合?"], "训练集99%，验证集70%，怎么救？")
    >>> pair.sides
    (1, 2)
    >>> pair.wrong({2})  # nothing chose a side yet: the first clause held by one side alone does
    >>> pair.wrong({2}), pair.wrong({0, 1}), pair.wrong({1})
    (None, None, ('过拟合', '欠拟合'))

Which side is decided in this order: the one the question names (and not the other); the top
source, when it is one of the two; else the side the reply first copies from alone, as the model
read the question. A question naming both ("过拟合和欠拟合的区别") checks nothing.
"""

from __future__ import annotations

from assistant.answer.changes import opposites
from assistant.answer.contradictions import normalise

__all__ = ["OppositeSources", "opposite_pair"]


def opposite_pair(titles: list[str]) -> tuple[int, int, str, str] | None:
    """The first two titles that are the same but for one pair of opposite words, with those words:
    ``["L1?", "什么是过拟合?", "什么是欠拟合?"] -> (1, 2, "过拟合", "欠拟合")``; None when no two are."""
    keys = [normalise(title) for title in titles]
    for i, key in enumerate(keys):
        for word, others in opposites().items():
            if len(word) < 2 or word not in key:
                continue
            for other in others:
                swapped = key.replace(word, other)
                for j in range(i + 1, len(keys)):
                    if len(other) >= 2 and keys[j] == swapped:
                        return i, j, word, other
    return None


class OppositeSources:
    """The pair of opposite sources among an answer's sources (0-based), and the side it is about."""

    def __init__(self, titles: list[str], question: str = ""):
        found = opposite_pair(titles)
        self.sides: tuple[int, int] | None = None  # the two sources, in the order of ``titles``
        self.words: tuple[str, str] = ("", "")  # what each side is about ("过拟合", "欠拟合")
        self.side: int | None = None  # the source the answer is about, once known
        if not found:
            return
        first, second, word, other = found
        asked = normalise(question)
        if word in asked and other in asked:  # a question on both: either side may be quoted
            return
        self.sides, self.words = (first, second), (word, other)
        if word in asked or other in asked:
            self.side = first if word in asked else second
        elif first == 0:  # the top source is one of the two
            self.side = first

    def wrong(self, holders: set[int]) -> tuple[str, str] | None:
        """For a clause held by the sources ``holders``: (what the answer is about, what those
        sources are about) when only the other side holds it, else None. The first clause held by
        one side alone chooses the side when nothing else has."""
        if self.sides is None or not holders:
            return None
        on = holders & set(self.sides)
        if len(on) != 1 or holders - on:  # held by both sides or by a source outside the pair
            return None
        (holder,) = on
        if self.side is None:
            self.side = holder
            return None
        if holder == self.side:
            return None
        about = self.words[self.sides.index(self.side)]
        return about, self.words[self.sides.index(holder)]
