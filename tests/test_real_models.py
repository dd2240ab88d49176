"""The real bundled encoder end to end on the seed corpus (a few seconds)."""

import pytest

from corpus import load_corpus
from index import open_index

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    return open_index(load_corpus("seed"), tmp_path_factory.mktemp("home"), progress=False)


@pytest.mark.parametrize(
    "query, section",
    [
        ("正负样本比例差很多，训练时该怎么办？", "1"),
        ("Why does L1 regularization produce sparse solutions?", "8"),
        ("矩阵逐元素相乘在深度学习里有什么用", "12"),
        ("What is a saddle point in optimization?", "13"),
    ],
)
def test_real_encoder_finds_the_section(real_index, query, section):
    hits = real_index.search(query, k=3)
    assert section in [h.chunk.number for h in hits]
    assert hits[0].dense_score is not None and -1.0 <= hits[0].dense_score <= 1.0


def test_dense_alone_understands_a_cross_language_query(real_index):
    hits = real_index.search("How to choose the classification threshold that maximizes F1?", k=3, mode="dense")
    assert "7" in [h.chunk.number for h in hits]
