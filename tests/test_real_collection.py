"""The bundled collection with the real encoders (USE over chunks, multilingual-e5 over headings):
retrieval and the gate at 1,485 sections, without the model (about 90 s on 2 cores)."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index(real_home):
    from assistant.config import Config
    from assistant.indexing import open_search_index

    return open_search_index(Config().with_overrides(data_dir=str(real_home)), progress=False)


def test_the_collection_is_indexed_with_both_heading_fields(index):
    assert index.manifest["n_sections"] == 1485 and index.manifest["heading_encoder"] == "multilingual-e5-small"
    assert index.heading_vectors.shape == (1485, 384) and index.headings.shape == (1485, 512)


@pytest.mark.parametrize("question, gold", [
    ("L1正则为什么比L2正则更容易产生稀疏解？", "机器学习基础/机器学习优化方法知识点#8"),
    ("Why does L1 regularization give sparser weights than L2?", "机器学习基础/机器学习优化方法知识点#8"),
])
def test_a_learners_question_finds_its_section_among_the_first_three(index, question, gold):
    assert gold in [hit.section_ref for hit in index.search(question, k=3)]


def test_a_scope_keeps_search_inside_its_chapter(index):
    hits = index.search("注意力机制的计算复杂度", k=5, scope="深度学习基础")
    assert hits and all(hit.section_ref.startswith("深度学习基础/") for hit in hits)


@pytest.mark.parametrize("question, passes", [
    ("L1正则为什么比L2正则更容易产生稀疏解？", True),
    ("XGBoost相比传统GBDT在目标函数上做了哪些改进？", False),  # a name the collection never prints
    ("区块链里的工作量证明和权益证明这两种共识机制有什么区别？", False),  # its rare words are in no retrieved section
])
def test_the_gate_decides_from_the_collection_itself(index, question, passes):
    from assistant.answer.gate import retrieval_gate
    from assistant.answer.settings import AnswerConfig

    config = AnswerConfig()
    terms = set(index.tokenizer.tokenize_query(question))
    assert retrieval_gate(index, config, question, terms, index.search(question, k=config.k)).passed == passes
