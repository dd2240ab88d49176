import pytest

from index.fusion import fuse_rankings
from index.lexical import BM25Index, ChineseTokenizer


def test_rrf_by_hand():
    # a: 1/(1+1) + 2/(1+2) = 1.1667; c: 2/(1+1) = 1.0; b: 1/(1+2) = 0.3333
    fused = fuse_rankings({"dense": ["a", "b"], "bm25": ["c", "a"]}, k=1, weights={"bm25": 2.0})
    assert [(item, round(score, 4)) for item, score in fused] == [("a", 1.1667), ("c", 1.0), ("b", 0.3333)]


def test_rrf_rejects_bad_k():
    with pytest.raises(ValueError, match="positive"):
        fuse_rankings({"x": ["a"]}, k=0)


def test_tokenizer_drops_stop_words_and_keeps_domain_words():
    tokens = ChineseTokenizer().tokenize("什么是过拟合？如何解决过拟合的问题")
    assert "过拟合" in tokens
    assert not {"什么", "如何", "的", "？"} & set(tokens)


def test_query_glossary_bridges_english_to_chinese():
    tokenizer = ChineseTokenizer()
    assert {"鞍点", "梯度消失"} <= set(tokenizer.tokenize_query("saddle point and vanishing gradients"))
    assert "正则化" not in tokenizer.tokenize_query("irregularization")  # whole words only


def test_glossary_terms_name_each_phrase_with_its_corpus_tokens():
    matches = dict(ChineseTokenizer().glossary_terms("Use oversampling and ReLU; overfitting is not f10."))
    assert "过拟合" in matches["overfitting"] and "relu" in matches["relu"]
    assert "f1" not in matches  # whole words only


def test_bm25_ranks_the_matching_document_first():
    tokenizer = ChineseTokenizer()
    docs = ["鞍点是梯度为零的点", "dropout让神经元随机失活", "过拟合需要正则化"]
    bm25 = BM25Index([tokenizer.tokenize(d) for d in docs])
    scores = bm25.scores(tokenizer.tokenize_query("神经元失活的作用"))
    assert scores.argmax() == 1 and scores[0] == 0 and scores[2] == 0
    assert not bm25.scores(["完全没有的词"]).any()


def test_chinese_synonyms_expand_to_corpus_terms():
    tokens = ChineseTokenizer().tokenize_query("分类门限怎么选")
    assert "阈值" in tokens
