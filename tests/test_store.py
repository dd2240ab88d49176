import hashlib
import json
import logging
import os
import time

import numpy as np
import pytest

from corpus import ChunkConfig, load_corpus
from index import EmptyQueryError, IndexConfig, RetrievalConfig, open_index
from index.store import FORMAT_VERSION


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
    assert manifest["n_sections"] == 5 and manifest["format_version"] == FORMAT_VERSION


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


@pytest.mark.parametrize("damage", ["truncate_vectors", "garble_chunks", "delete_manifest", "edit_manifest",
                                    "swap_heading_vectors", "swap_chunk_vectors", "truncate_chunk_vectors"])
def test_corrupt_index_is_detected_and_rebuilt(seed_corpus_dir, data_home, fake_encoder, fake_heading_encoder, caplog,
                                               damage):
    corpus = load_corpus(seed_corpus_dir)
    good = _results(open_index(corpus, data_home, encoder=fake_encoder, progress=False))
    path = _only_index_dir(data_home)
    if damage == "truncate_vectors":
        data = (path / "vectors.faiss").read_bytes()
        (path / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "garble_chunks":
        (path / "chunks.jsonl").write_text('{"id": "x"}\n', "utf-8")
    elif damage == "swap_heading_vectors":  # right shape, wrong vectors: only the checksum tells
        vectors = np.load(path / "headings-encoder.npy")
        np.save(path / "headings-encoder.npy", vectors[::-1].copy())
    elif damage == "swap_chunk_vectors":  # the heading encoder's over the chunks: the same
        vectors = np.load(path / "chunks-encoder.npy")
        np.save(path / "chunks-encoder.npy", vectors[::-1].copy())
    elif damage == "truncate_chunk_vectors":
        np.save(path / "chunks-encoder.npy", np.load(path / "chunks-encoder.npy")[:-1].copy())
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


def _write_checked(path, name, data: bytes):
    """Replace one index file and record its new checksum, so only the content check can catch it."""
    (path / name).write_bytes(data)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256(data).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def _first_chunk_edited(path, **changes) -> bytes:
    """chunks.jsonl with its first row's fields changed (None drops one)."""
    first, *rest = (path / "chunks.jsonl").read_text("utf-8").splitlines()
    row = {key: value for key, value in {**json.loads(first), **changes}.items() if value is not None}
    return "".join(line + "\n" for line in [json.dumps(row, ensure_ascii=False), *rest]).encode()


def _without(manifest, key):
    return {k: v for k, v in manifest.items() if k != key}


WRONG_SHAPES = {  # name -> (manifest -> the wrong one, what the warning says)
    "list": (lambda m: [1, 2, 3], "holds [1, 2, 3], expected an object"),
    "null": (lambda m: None, "holds None"),
    "files_only": (lambda m: {"files": 5}, "has no 'format_version'"),
    "no_n_chunks": (lambda m: _without(m, "n_chunks"), "has no 'n_chunks'"),
    "n_chunks_text": (lambda m: {**m, "n_chunks": str(m["n_chunks"])}, "n_chunks is '"),
    "files_list": (lambda m: {**m, "files": list(m["files"].values())}, "files is ["),
    "files_missing_one": (lambda m: {**m, "files": _without(m["files"], "vectors.faiss")}, "files['vectors.faiss']"),
    "version_bool": (lambda m: {**m, "format_version": True}, "format_version is True"),
    "chunk_field_text": (lambda m: {**m, "heading_encoder_chunks": "yes"}, "heading_encoder_chunks is 'yes'"),
}


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_manifest_of_the_wrong_shape_is_rebuilt(seed_corpus_dir, data_home, fake_encoder, caplog, shape):
    corpus = load_corpus(seed_corpus_dir)
    good = _results(open_index(corpus, data_home, encoder=fake_encoder, progress=False))
    path = _only_index_dir(data_home)
    damage, message = WRONG_SHAPES[shape]
    (path / "manifest.json").write_text(json.dumps(damage(json.loads((path / "manifest.json").read_text()))))
    calls = fake_encoder.calls
    with caplog.at_level(logging.WARNING):
        again = open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    assert fake_encoder.calls > calls  # rebuilt
    assert str(path) in caplog.text and message in caplog.text and "rebuilding" in caplog.text
    assert _results(again) == good
    assert json.loads((path / "manifest.json").read_text())["n_chunks"] == len(again.chunks)  # a good one again


CONTENT_DAMAGE = {  # name -> (file, index dir -> its new bytes, what the warning says)
    "truncated_vectors": ("vectors.faiss", lambda p: (p / "vectors.faiss").read_bytes()[:100], "RuntimeError"),
    "chunk_unknown_field": ("chunks.jsonl", lambda p: b'{"id": "x", "tokens": []}\n', "chunks.jsonl line 1"),
    "chunk_not_an_object": ("chunks.jsonl", lambda p: b'"x"\n', "chunks.jsonl line 1 holds 'x'"),
    "chunk_wrong_type": ("chunks.jsonl", lambda p: _first_chunk_edited(p, start="0"), "start is '0'"),
    "chunk_without_terms": ("chunks.jsonl", lambda p: _first_chunk_edited(p, tokens=None), "list of BM25 terms"),
    "chunk_of_no_section": ("chunks.jsonl", lambda p: _first_chunk_edited(p, section_ref="x#1"), "names a section"),
    "section_not_an_object": ("sections.jsonl", lambda p: b"[1, 2]\n", "sections.jsonl line 1 holds [1, 2]"),
    "not_json": ("sections.jsonl", lambda p: b"{\n", "JSONDecodeError"),
}


@pytest.mark.parametrize("damage", list(CONTENT_DAMAGE))
def test_damaged_files_with_matching_checksums_are_rebuilt(seed_corpus_dir, data_home, fake_encoder, caplog, damage):
    corpus = load_corpus(seed_corpus_dir)
    good = _results(open_index(corpus, data_home, encoder=fake_encoder, progress=False))
    path = _only_index_dir(data_home)
    name, new_bytes, message = CONTENT_DAMAGE[damage]
    _write_checked(path, name, new_bytes(path))
    calls = fake_encoder.calls
    with caplog.at_level(logging.WARNING):
        again = open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    assert fake_encoder.calls > calls
    assert message in caplog.text and "rebuilding" in caplog.text
    assert _results(again) == good


def test_stale_temp_folders_of_killed_builds_are_removed(seed_corpus_dir, data_home, fake_encoder, caplog):
    corpus = load_corpus(seed_corpus_dir)
    open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    name = _only_index_dir(data_home).name
    indexes = data_home / "indexes"
    two_hours_ago = time.time() - 2 * 3600

    def temp_folder(suffix, touched):
        folder = indexes / f".{name}.{suffix}"
        folder.mkdir()
        (folder / "chunks.jsonl").write_text("{}\n")
        os.utime(folder / "chunks.jsonl", (touched, touched))
        os.utime(folder, (two_hours_ago, two_hours_ago))
        return folder

    stale = temp_folder("k1ll3d_a", two_hours_ago)
    other_corpus = indexes / ".other-0123456789abcdef.k1ll3d_b"  # a killed build of another index
    other_corpus.mkdir()
    os.utime(other_corpus, (two_hours_ago, two_hours_ago))
    writing = temp_folder("wr1t1ng_", time.time())  # a file in it was written just now
    fresh = indexes / f".{name}.fr3sh___"
    fresh.mkdir()
    unrelated = indexes / ".notes"
    unrelated.mkdir()
    os.utime(unrelated, (two_hours_ago, two_hours_ago))

    calls = fake_encoder.calls
    open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    assert fake_encoder.calls == calls  # opened, not rebuilt: tidied all the same
    assert not stale.exists() and not other_corpus.exists()
    assert writing.exists() and fresh.exists() and unrelated.exists()
    open_index(corpus, data_home, encoder=fake_encoder, progress=False, rebuild=True)
    assert writing.exists() and fresh.exists()  # a build keeps young ones too


def test_another_index_with_a_wrong_shape_manifest_does_not_stop_a_build(seed_corpus_dir, data_home, fake_encoder):
    corpus = load_corpus(seed_corpus_dir)
    open_index(corpus, data_home, encoder=fake_encoder, progress=False)
    other = _only_index_dir(data_home).with_name(_only_index_dir(data_home).name[:-16] + "0" * 16)
    other.mkdir()
    (other / "manifest.json").write_text("[1, 2, 3]")
    index = open_index(corpus, data_home, chunking=ChunkConfig(50, 10), encoder=fake_encoder, progress=False)
    assert index.search("鞍点") and other.exists()  # not ours to judge: left alone
