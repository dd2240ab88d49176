"""The sources an answer is given: which retrieved sections, and what the model reads of each.

    prompt_sources(index, "L1为什么稀疏", hits, max_chars=600)
    -> [("L1和L2正则的区别？", "L1是绝对值之和。\nL1产生稀疏解。…"), …]
"""

from __future__ import annotations

from index import Hit, SearchIndex

from assistant.answer.quotes import section_text, sentence_overlap
from assistant.answer.settings import SOURCE_SCOPES
from assistant.text import headed_sentences, split_sentences

__all__ = ["prompt_sources", "related_hits", "section_text", "trim_source"]


def related_hits(hits: list[Hit], share: float) -> list[Hit]:
    """The first hit and those scoring at least ``share`` of the best search score, in order:
    scores [1.5, 0.9, 0.6] with share 0.45 keep the first two. (The best is the first's, unless the
    model reranked them: then the bar stays where the search put it.)"""
    if not hits:
        return []
    best = max(hit.score for hit in hits)
    return hits[:1] + [hit for hit in hits[1:] if hit.score >= share * best]


def prompt_sources(index: SearchIndex, query: str, hits: list[Hit], max_chars: int = 0,
                   scope: str = "section") -> list[tuple[str, str]]:
    """(title, text) of each hit as the model reads it: its whole section (``scope`` "section") or
    its chunk ("chunk"), trimmed to ``max_chars`` around the query's search terms (``trim_source``;
    a section's sentences in the matched chunk first among equals; a chunk under the sub-heading it
    starts in; 0 = whole)."""
    if scope not in SOURCE_SCOPES:
        raise ValueError(f"scope should be one of {SOURCE_SCOPES}, got {scope!r}")
    terms = set(index.tokenizer.tokenize_query(query)) if max_chars else set()
    sources = []
    for h in hits:
        if scope == "section":
            text, heading = section_text(index, h), ""
            matched = frozenset(split_sentences(h.chunk.text)) if max_chars else frozenset()
        else:
            text, heading = h.chunk.text, f"#### {h.chunk.heading}" if h.chunk.heading else ""
            matched = frozenset()
        sources.append((h.chunk.title, trim_source(text, terms, index.tokenizer.tokenize, max_chars, heading, matched)))
    return sources


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
