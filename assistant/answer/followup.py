"""Rule-based rewriting of a follow-up question into a self-contained retrieval query.

A question that leans on the previous turn (a pronoun, a leading "那…", "what about", a request
for an example, or very short) is searched together with the previous user question, itself
written ``FOLLOW_UP_WEIGHT`` times so that it outweighs the turn it leans on; anything else is
searched alone.

    >>> history = [{"role": "user", "content": "L1正则为什么容易产生稀疏解？"},
    ...            {"role": "assistant", "content": "因为……"}]
    >>> retrieval_query("那L2正则呢？", history)
    'L1正则为什么容易产生稀疏解？\\n那L2正则呢？\\n那L2正则呢？\\n那L2正则呢？'
    >>> retrieval_query("Dropout的作用是什么？", history)
    'Dropout的作用是什么？'

A follow-up mostly asks about something next to what the turn before it asked ("那它会带来什么显存
问题？" after "KV Cache是怎么加速推理的？"): written once beside the longer previous question, its own
words would weigh less than the topic it leans on in every field of the search (benchmarks/README.md,
"Follow-ups").
"""

from __future__ import annotations

import re

from index.search import RetrievalConfig

FOLLOW_UP_WEIGHT = 3  # times a follow-up is written after the previous question in its search
SHORT_QUESTION_CHARS = 8  # a question this short is taken as a follow-up when there is history
_LEADS = re.compile(r"^\s*(那么?|还有|另外|反过来|反之|同样|然后|and\b|so\b|what about|how about)", re.I)
_REFERS = re.compile(r"它|它们|这个|那个|这种|那种|这样|上面|上述|刚才|前面|其中|\b(it|its|that|this|them|they|those)\b", re.I)
# a request for an example of the topic at hand: "能给个代码层面的例子吗？", "Can you give an example?"
_EXAMPLE = re.compile(r"(举|给|来|写)一?个.{0,8}(例子|示例|代码)|\b(an?|some) (code )?examples?\b", re.I)


def is_follow_up(question: str) -> bool:
    """Whether a question needs the previous turn to be understood."""
    text = question.strip()
    return bool(_LEADS.search(text) or _REFERS.search(text) or _EXAMPLE.search(text)
                or len(text) <= SHORT_QUESTION_CHARS)


def retrieval_query(question: str, history: list[dict] | None = None,
                    max_chars: int = RetrievalConfig.max_query_chars) -> str:
    """The text to search for: the question, preceded by the last user turn if it is a follow-up
    and then written ``FOLLOW_UP_WEIGHT`` times, or as often as fits in ``max_chars`` (the search's
    ``max_query_chars``) with the previous turn cut to leave room for it once."""
    previous = [turn["content"] for turn in history or [] if turn.get("role") == "user"]
    question = question.strip()
    if previous and question and is_follow_up(question):
        before = previous[-1].strip()[: max(0, max_chars - len(question) - 1)]
        times = max(1, min(FOLLOW_UP_WEIGHT, (max_chars - len(before)) // (len(question) + 1)))
        return before + f"\n{question}" * times
    return question
