import numpy as np
import pytest

from index.vectors import VectorIndex


def _unit_rows(n, dim, seed):
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_flat_top_k_equals_numpy_brute_force():
    data, queries = _unit_rows(500, 32, 0), _unit_rows(20, 32, 1)
    index = VectorIndex.build(data, kind="flat")
    for query in queries:
        scores, ids = index.search(query, k=10)
        expected = np.argsort(-(data @ query), kind="stable")[:10]
        assert ids.tolist() == expected.tolist()
        np.testing.assert_allclose(scores, (data @ query)[expected], rtol=1e-5)


def test_hnsw_recall_against_brute_force():
    data, queries = _unit_rows(3000, 32, 2), _unit_rows(50, 32, 3)
    index = VectorIndex.build(data, kind="hnsw")
    assert index.kind == "hnsw"
    found = 0
    for query in queries:
        _, ids = index.search(query, k=10)
        found += len(set(ids.tolist()) & set(np.argsort(-(data @ query))[:10].tolist()))
    assert found / (10 * len(queries)) >= 0.95


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_and_reload_give_identical_results(tmp_path, kind):
    data, query = _unit_rows(300, 16, 4), _unit_rows(1, 16, 5)[0]
    index = VectorIndex.build(data, kind=kind)
    index.save(tmp_path / "v.faiss")
    again = VectorIndex.load(tmp_path / "v.faiss")
    assert again.kind == kind and len(again) == 300
    for a, b in zip(index.search(query, 7), again.search(query, 7)):
        np.testing.assert_array_equal(a, b)


def test_k_larger_than_index_and_unknown_kind():
    index = VectorIndex.build(_unit_rows(3, 8, 6))
    assert len(index.search(_unit_rows(1, 8, 7)[0], k=10)[1]) == 3
    with pytest.raises(ValueError, match="'auto', 'flat' or 'hnsw'"):
        VectorIndex.build(_unit_rows(3, 8, 6), kind="ivf")
