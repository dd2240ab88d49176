import logging

import pytest

from corpus import BUNDLED, corpus_path, decode_text, default_corpus_path, load_corpus


def test_bundled_seed_corpus_has_its_17_questions():
    corpus = load_corpus("seed")
    assert corpus.root == corpus_path("seed") != default_corpus_path()
    assert [s.number for s in corpus.sections] == [str(n) for n in range(1, 18)]
    assert corpus.section("ml_basics_qa#7").title == "如何找到让F1最高的分类阈值?"


def test_corpus_names_resolve_to_the_bundled_data_and_paths_stay_paths(tmp_path, monkeypatch):
    assert corpus_path(None) == corpus_path("wethinkin") == default_corpus_path()
    assert default_corpus_path().is_dir() and (default_corpus_path() / "LICENSE").is_file()
    assert (default_corpus_path() / "ATTRIBUTION.md").is_file()
    assert set(BUNDLED) == {"wethinkin", "seed"}
    (tmp_path / "seed").mkdir()
    monkeypatch.chdir(tmp_path)
    assert corpus_path("./seed") == tmp_path.joinpath("seed").relative_to(tmp_path)  # a local folder, not the bundle
    assert corpus_path(tmp_path / "seed") == tmp_path / "seed"


def test_folder_is_loaded_recursively_with_relative_doc_ids(seed_corpus_dir):
    corpus = load_corpus(seed_corpus_dir)
    assert corpus.files == ["basics", "sub/repo"]
    assert [s.ref for s in corpus.sections] == ["basics#1", "basics#2", "basics#3", "sub/repo#1", "sub/repo#2"]


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("gbk.md", "## 1.过拟合?\n答案".encode("gbk"), "not UTF-8"),
        ("empty.md", b"  \n\n", "empty file"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\0\0\0IHDR", "binary"),
    ],
)
def test_bad_files_are_skipped_with_a_warning_naming_them(seed_corpus_dir, caplog, name, data, reason):
    (seed_corpus_dir / name).write_bytes(data)
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(seed_corpus_dir)
    assert len(corpus.sections) == 5
    assert reason in corpus.skipped[name.rsplit(".", 1)[0]]
    assert any(name in record.getMessage() and reason in record.getMessage() for record in caplog.records)


def test_utf8_bom_is_accepted():
    text, problem = decode_text("\ufeff## 1.A?\nb".encode("utf-8"))
    assert problem is None and text.startswith("## 1.A?")


def test_content_hash_follows_file_content(seed_corpus_dir):
    before = load_corpus(seed_corpus_dir).content_hash
    assert load_corpus(seed_corpus_dir).content_hash == before
    (seed_corpus_dir / "basics.md").write_text("## 1.新问题?\n新答案\n", "utf-8")
    assert load_corpus(seed_corpus_dir).content_hash != before


def test_missing_or_empty_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No .md or .txt files"):
        load_corpus(tmp_path / "empty")
