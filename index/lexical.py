"""BM25 over jieba tokens, with query expansion from English words and Chinese synonyms to corpus terms.

    >>> tok = ChineseTokenizer()
    >>> tok.tokenize("如何找到让F1最高的分类阈值?")
    ['找到', 'f1', '最高', '分类', '阈值', '分类阈值']
    >>> "过拟合" in tok.tokenize_query("How to fix overfitting?")
    True
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import numpy as np

_WORD = re.compile(r"[^\W_]")


def _data_lines(name: str) -> list[str]:
    text = (resources.files("index") / "data" / name).read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


class ChineseTokenizer:
    """jieba search-mode tokens, lower-cased, without stop words and punctuation.

    Domain words from ``index/data/user_words.txt`` are kept whole ("过拟合", "哈达玛积"), and
    search mode also emits their parts, so "拟合" still matches. Queries are expanded with the
    corpus terms for English words and Chinese synonyms in ``index/data/query_expansions.tsv``.
    """

    id = "jieba-search-v1"  # recorded in index manifests: change it when tokens would change

    def __init__(self):
        import jieba

        self._jieba = jieba.Tokenizer()
        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" chatter on stderr
        self._jieba.initialize()  # load the dictionary now, not during the first search
        for word in _data_lines("user_words.txt"):
            self._jieba.add_word(word)
        self._stop = set(_data_lines("stopwords.txt"))
        self._glossary = self._read_glossary()

    def tokenize(self, text: str) -> list[str]:
        """Index-side tokens of a text."""
        tokens = self._jieba.lcut_for_search(text.lower())
        return [t for t in (t.strip() for t in tokens) if t and _WORD.search(t) and t not in self._stop]

    def tokenize_query(self, query: str) -> list[str]:
        """Query tokens plus glossary translations of its English words and phrases."""
        lowered = query.lower()
        extra = [terms for phrase, terms in self._glossary if _contains_phrase(lowered, phrase)]
        return self.tokenize(query) + [t for words in extra for t in self.tokenize(words)]

    def glossary_words(self, query: str) -> set[str]:
        """The English words of glossary phrases found in ``query``: ``"weight decay怎么设" -> {"weight", "decay"}``."""
        lowered = query.lower()
        return {word for phrase, _ in self._glossary if _contains_phrase(lowered, phrase) for word in phrase.split()}

    def glossary_terms(self, text: str) -> list[tuple[str, list[str]]]:
        """The glossary phrases found in ``text`` with their corpus terms' tokens:
        ``"use oversampling" -> [("oversampling", ["过", "采样", "过采样"])]``."""
        lowered = text.lower()
        return [(phrase, self.tokenize(terms)) for phrase, terms in self._glossary if _contains_phrase(lowered, phrase)]

    @staticmethod
    def _read_glossary() -> list[tuple[str, str]]:
        pairs = []
        for line in _data_lines("query_expansions.tsv"):
            phrase, terms = line.split("\t", 1)
            pairs.append((phrase.lower(), terms))
        return pairs


def _contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word match for Latin phrases ("l1" is in "the l1 norm", not in "l10"); Chinese
    phrases match anywhere ("门限" is in "分类门限怎么选")."""
    if not phrase.isascii():
        return phrase in text
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None


class BM25Index:
    """Okapi BM25 (bm25s, Lucene variant) over pre-tokenised documents."""

    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at INFO
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._n = len(documents)
        self._bm25.index(documents, show_progress=False)
        self._vocab = self._bm25.vocab_dict

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every document for the query -> (n_documents,) float32."""
        known = [t for t in query_tokens if t in self._vocab]
        if not known:
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
