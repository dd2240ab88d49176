import json
import logging

import numpy as np
import pytest

from corpus import ChunkConfig, load_corpus
from index import EmptyQueryError, IndexConfig, RetrievalConfig, open_index


def _results(index, query="dropout 失活"):
    return [(h.chunk.id, round(h.score, 6), h.dense_score, h.bm25_score) for h in index.search(query, k=3)]


def _only_index_dir(data_home):
    dirs = [p for p in (data_home / "indexes").iterdir() if not p.name.startswith(".")]
    assert len(dirs) == 1
    return dirs[0]


def test_save_reload_gives_identical_results_without_reembedding(seed_corpus_dir, data_home, fake_encoder):
    corpus = load_corpus(seed_corpus_dir)
    built = open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    calls_after_build = fake_encoder.calls
    reloaded = open_index(load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False)
    assert fake_encoder.calls == calls_after_build  # loaded, not rebuilt
    assert [c.id for c in reloaded.chunks] == [c.id for c in built.chunks]
    assert _results(reloaded) == _results(built)
    manifest = json.loads((_only_index_dir(data_home) / "manifest.json").read_text())
    assert manifest["corpus_hash"] == corpus.content_hash
    assert manifest["encoder"] == "test-bigram-64" and manifest["dim"] == 64
    assert manifest["chunking"] == {"max_chars": 600, "overlap_chars": 100}
    assert manifest["n_sections"] == 5 and manifest["format_version"] == 1


def test_changed_corpus_file_triggers_a_rebuild_and_old_index_is_removed(seed_corpus_dir, data_home, fake_encoder):
    open_index(load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False)
    old_dir = _only_index_dir(data_home)
    (seed_corpus_dir / "basics.md").write_text("## 1.什么是哈达玛积?\n逐元素相乘。\n", "utf-8")
    calls = fake_encoder.calls
    index = open_index(load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False)
    assert fake_encoder.calls > calls
    assert index.search("哈达玛积")[0].chunk.section_ref == "basics#1"
    assert _only_index_dir(data_home) != old_dir


def test_changed_settings_trigger_a_rebuild(seed_corpus_dir, data_home, fake_encoder):
    corpus = load_corpus(seed_corpus_dir)
    open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    calls = fake_encoder.calls
    small = open_index(corpus, data_home, chunking=ChunkConfig(50, 10), encoder=fake_encoder, progress=False)
    assert fake_encoder.calls > calls
    assert small.manifest["chunking"] == {"max_chars": 50, "overlap_chars": 10}


@pytest.mark.parametrize("damage", ["truncate_vectors", "garble_chunks", "delete_manifest", "edit_manifest"])
def test_corrupt_index_is_detected_and_rebuilt(seed_corpus_dir, data_home, fake_encoder, caplog, damage):
    corpus = load_corpus(seed_corpus_dir)
    good = _results(open_index(corpus, data_home, encoder=fake_encoder, progress=False))
    path = _only_index_dir(data_home)
    if damage == "truncate_vectors":
        data = (path / "vectors.faiss").read_bytes()
        (path / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "garble_chunks":
        (path / "chunks.jsonl").write_text('{"id": "x"}\n', "utf-8")
    elif damage == "delete_manifest":
        (path / "manifest.json").unlink()
    else:
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["encoder"] = "another-encoder"
        (path / "manifest.json").write_text(json.dumps(manifest))
    calls = fake_encoder.calls
    with caplog.at_level(logging.WARNING):
        again = open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    assert fake_encoder.calls > calls  # rebuilt
    assert "rebuilding" in caplog.text
    assert _results(again) == good


def test_search_returns_distinct_sections_with_scores(seed_corpus_dir, data_home, fake_encoder):
    index = open_index(
        load_corpus(seed_corpus_dir), data_home, chunking=ChunkConfig(40, 0), encoder=fake_encoder, progress=False
    )
    hits = index.search("过拟合 正则化", k=5)
    refs = [h.section_ref for h in hits]
    assert len(refs) == len(set(refs)) == 5
    assert refs[0] == "basics#1"
    assert all(h.dense_score is not None for h in hits)
    assert hits[0].bm25_score > 0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert set(hits[0].to_dict()) >= {"doc", "section", "title", "text", "score", "dense_score", "bm25_score"}


def test_modes_use_one_retriever_each(seed_corpus_dir, data_home, fake_encoder):
    index = open_index(load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False)
    assert all(h.bm25_score is None for h in index.search("鞍点", mode="dense"))
    assert all(h.dense_score is None for h in index.search("鞍点", mode="bm25"))


def test_empty_and_overlong_queries(seed_corpus_dir, data_home, fake_encoder, caplog):
    index = open_index(
        load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False,
        retrieval=RetrievalConfig(max_query_chars=20),
    )
    with pytest.raises(EmptyQueryError, match="empty"):
        index.search("   ")
    with caplog.at_level(logging.WARNING):
        hits = index.search("鞍点" + "啊" * 100)
    assert "first 20" in caplog.text and hits


def test_bad_settings_name_the_value():
    with pytest.raises(ValueError, match="got 'ivf'"):
        IndexConfig(vector_index="ivf")
    with pytest.raises(ValueError, match="k should be positive, got 0"):
        RetrievalConfig(k=0)


def test_vectors_match_the_encoder(seed_corpus_dir, data_home, fake_encoder):
    index = open_index(load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False)
    expected = fake_encoder.embed_batch([index.chunks[0].embed_text])[0]
    scores, ids = index.vectors.search(expected, 1)
    assert ids[0] == 0 and np.isclose(scores[0], 1.0)


def test_chunk_terms_survive_a_reload(seed_corpus_dir, data_home, fake_encoder):
    built = open_index(load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False)
    reloaded = open_index(load_corpus(seed_corpus_dir), data_home, encoder=fake_encoder, progress=False)
    chunk = reloaded.chunks[0]
    assert reloaded.terms(chunk) == built.terms(chunk) == frozenset(built.tokenizer.tokenize(chunk.embed_text))
