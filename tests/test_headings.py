"""The heading fields: each question's heading matched on its own, by the main encoder and by the
heading encoder, fused with the chunk retrievers and narrowed by scope like them."""

import json

import numpy as np
import pytest

from corpus import load_corpus
from index import RetrievalConfig, open_index
from index.store import IndexConfig

# The answer texts share no word with the questions a learner would type; only the headings do.
NOTES = {
    "ml/basics.md": """## 1.什么是过拟合？
模型记住了训练样本里的噪声，换一批样本就表现变差。

## 2.什么是梯度消失？
反向传播时连乘的导数越来越小，靠近输入的层几乎不更新。
""",
    "cv/detect.md": """## 1.什么是非极大值抑制？
按置信度排序后删去与更高分框重叠太多的框。

## 2.什么是锚框？
预先设定的一组不同尺度与长宽比的参考框。
""",
}


@pytest.fixture
def notes(tmp_path):
    root = tmp_path / "notes"
    for name, text in NOTES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, "utf-8")
    return load_corpus(root)


def _heading_only(**weights) -> RetrievalConfig:
    """Retrieval by one heading field alone (the other retrievers weigh nothing)."""
    base = {"dense_weight": 0, "bm25_weight": 0, "heading_weight": 0, "heading_encoder_weight": 0,
            "chunk_encoder_weight": 0}
    return RetrievalConfig(**{**base, **weights})


def test_heading_text_joins_group_headings_and_title_once():
    from corpus.sections import Section

    section = Section("d", "3", "什么是锚框？", "…", heading_path=("目标检测", "什么是锚框？"))
    assert section.heading_text == "目标检测 什么是锚框？"
    assert Section("d", "1", "t", "…").heading_text == "t"


@pytest.mark.parametrize("field", ["heading_weight", "heading_encoder_weight"])
def test_each_heading_field_alone_finds_the_question_whose_heading_matches(notes, data_home, fake_encoder,
                                                                           fake_heading_encoder, field):
    index = open_index(notes, data_home, encoder=fake_encoder, retrieval=_heading_only(**{field: 1}),
                       progress=False)
    queries = fake_heading_encoder.queries
    hits = index.search("梯度消失是什么", k=2)
    assert hits[0].section_ref == "ml/basics#2"
    assert hits[0].chunk.section_ref == "ml/basics#2"  # shown through its own chunk
    assert hits[0].heading_score is not None and hits[0].heading_score >= hits[1].heading_score
    assert fake_heading_encoder.queries == queries + (field == "heading_encoder_weight")


def test_the_heading_encoder_score_is_the_one_a_hit_reports(notes, data_home, fake_encoder, fake_heading_encoder):
    index = open_index(notes, data_home, encoder=fake_encoder, progress=False)
    hit = index.search("锚框")[0]
    section = hit.section_ref
    row = [s.ref for s in notes.sections].index(section)
    query = index.heading_encoder.embed_queries(["锚框"])[0]
    assert hit.heading_score == pytest.approx(float(index.heading_vectors[row] @ query), abs=1e-6)


def test_scope_narrows_the_heading_fields_too(notes, data_home, fake_encoder, fake_heading_encoder):
    index = open_index(notes, data_home, encoder=fake_encoder, retrieval=_heading_only(heading_encoder_weight=1),
                       progress=False)
    assert index.search("什么是锚框", k=1)[0].section_ref == "cv/detect#2"
    hits = index.search("什么是锚框", k=4, scope="ml")
    assert hits and {h.section_ref for h in hits} <= {"ml/basics#1", "ml/basics#2"}


def test_without_a_heading_encoder_the_main_encoder_matches_headings(notes, data_home, fake_encoder,
                                                                    fake_heading_encoder):
    index = open_index(notes, data_home, config=IndexConfig(heading_encoder=""), encoder=fake_encoder,
                       retrieval=_heading_only(heading_weight=1), progress=False)
    assert index.heading_encoder is None and index.heading_vectors is None
    manifest = index.manifest
    assert manifest["heading_encoder"] == "" and "headings-encoder.npy" not in manifest["files"]
    assert index.search("非极大值抑制", k=1)[0].section_ref == "cv/detect#1"
    assert index.search("非极大值抑制", k=1)[0].heading_score is not None


def test_headings_are_saved_and_reloaded_without_embedding_again(notes, data_home, fake_encoder,
                                                                 fake_heading_encoder):
    built = open_index(notes, data_home, encoder=fake_encoder, progress=False)
    calls = (fake_encoder.calls, fake_heading_encoder.calls)
    reloaded = open_index(notes, data_home, encoder=fake_encoder, progress=False)
    assert (fake_encoder.calls, fake_heading_encoder.calls) == calls
    assert np.array_equal(reloaded.headings, built.headings)
    assert np.array_equal(reloaded.heading_vectors, built.heading_vectors)
    assert reloaded.manifest["heading_encoder"] == "test-heading-bigram-64"
    manifest = json.loads((data_home / "indexes").glob("*/manifest.json").__next__().read_text())
    assert set(manifest["files"]) >= {"headings.npy", "headings-encoder.npy"}


def test_the_heading_encoder_over_the_chunks_finds_a_section_by_its_answer(notes, data_home, fake_encoder,
                                                                          fake_heading_encoder):
    """The chunk field is the heading encoder over every chunk: a query worded like an answer finds
    its section through it alone, it is saved and reloaded with the index, and scope narrows it."""
    index = open_index(notes, data_home, encoder=fake_encoder, retrieval=_heading_only(chunk_encoder_weight=1),
                       progress=False)
    assert index.chunk_vectors.shape == (len(index.chunks), fake_heading_encoder.dim)
    row = next(i for i, c in enumerate(index.chunks) if c.section_ref == "cv/detect#1")
    assert np.allclose(index.chunk_vectors[row], fake_heading_encoder.embed_batch([index.chunks[row].embed_text])[0])
    hits = index.search("删去重叠太多的框", k=2)
    assert hits[0].section_ref == "cv/detect#1" and hits[0].score > hits[1].score  # ranked by the field, not tied
    assert {h.section_ref for h in index.search("删去重叠太多的框", k=4, scope="ml")} <= {"ml/basics#1", "ml/basics#2"}
    calls = fake_heading_encoder.calls
    reloaded = open_index(notes, data_home, encoder=fake_encoder, retrieval=_heading_only(chunk_encoder_weight=1),
                          progress=False)
    assert fake_heading_encoder.calls == calls and np.array_equal(reloaded.chunk_vectors, index.chunk_vectors)
    assert "chunks-encoder.npy" in reloaded.manifest["files"] and reloaded.manifest["heading_encoder_chunks"]
    assert reloaded.search("删去重叠太多的框", k=1)[0].section_ref == "cv/detect#1"


def test_turning_the_chunk_field_off_rebuilds_without_it(notes, data_home, fake_encoder, fake_heading_encoder):
    both = open_index(notes, data_home, encoder=fake_encoder, progress=False)
    queries = fake_heading_encoder.queries
    both.search("梯度消失是什么")
    assert fake_heading_encoder.queries == queries + 1  # one query vector serves both fields of the encoder
    index = open_index(notes, data_home, config=IndexConfig(heading_encoder_chunks=False), encoder=fake_encoder,
                       progress=False)
    assert index.chunk_vectors is None and index.heading_vectors is not None
    assert not index.manifest["heading_encoder_chunks"] and "chunks-encoder.npy" not in index.manifest["files"]
    queries = fake_heading_encoder.queries
    index.search("梯度消失是什么")
    assert fake_heading_encoder.queries == queries + 1  # the query is embedded once for the heading field
    no_heading_field = open_index(notes, data_home, config=IndexConfig(heading_encoder_chunks=False),
                                  encoder=fake_encoder, retrieval=RetrievalConfig(heading_encoder_weight=0),
                                  progress=False)
    no_heading_field.search("梯度消失是什么")
    assert fake_heading_encoder.queries == queries + 1  # and not at all when no field of it is searched


def test_chunk_vectors_must_match_the_chunks(notes, data_home, fake_encoder, fake_heading_encoder):
    from index.search import SearchIndex

    index = open_index(notes, data_home, encoder=fake_encoder, progress=False)
    parts = (list(index.sections.values()), index.chunks, index.vectors, index.bm25, index.encoder, index.tokenizer)
    with pytest.raises(ValueError, match="chunk_vectors"):
        SearchIndex(*parts, heading_encoder=index.heading_encoder, heading_vectors=index.heading_vectors,
                    chunk_vectors=index.chunk_vectors[:1])
    with pytest.raises(ValueError, match="need the heading_encoder"):
        SearchIndex(*parts, chunk_vectors=index.chunk_vectors)


def test_changing_the_heading_encoder_rebuilds(notes, data_home, fake_encoder, fake_heading_encoder):
    open_index(notes, data_home, encoder=fake_encoder, progress=False)
    calls = fake_encoder.calls
    index = open_index(notes, data_home, config=IndexConfig(heading_encoder=""), encoder=fake_encoder,
                       progress=False)
    assert fake_encoder.calls > calls and index.heading_vectors is None


def test_lead_text_is_the_title_and_the_opening_of_the_answer_without_formulas_or_code():
    from corpus.sections import Section

    text = "过拟合指模型\n记住了噪声。\n$$L = \\sum x$$\n```python\nfit()\n```\n<b>换一批</b>样本就变差。"
    section = Section("d", "1", "什么是过拟合？", text)
    assert section.lead_text(200) == "什么是过拟合？ 过拟合指模型 记住了噪声。 换一批 样本就变差。"
    assert section.lead_text(12) == "什么是过拟合？ 过拟合指"


def test_the_heading_encoder_embeds_the_lead_and_changing_its_length_rebuilds(notes, data_home, fake_encoder,
                                                                             fake_heading_encoder):
    from index.store import heading_encoder_texts

    index = open_index(notes, data_home, encoder=fake_encoder, retrieval=_heading_only(heading_encoder_weight=1),
                       progress=False)
    row = [s.ref for s in notes.sections].index("ml/basics#1")
    lead = notes.sections[row].lead_text(IndexConfig().heading_lead_chars)
    assert lead.startswith("什么是过拟合？ 模型记住了") and heading_encoder_texts(notes.sections, IndexConfig())[row] == lead
    assert np.allclose(index.heading_vectors[row], fake_heading_encoder.embed_batch([lead])[0])
    # the answer's opening is what the field matches on: a query worded like it finds it
    assert index.search("反向传播时导数连乘越来越小", k=1)[0].section_ref == "ml/basics#2"
    calls = fake_heading_encoder.calls
    headings_only = open_index(notes, data_home, config=IndexConfig(heading_lead_chars=0), encoder=fake_encoder,
                               retrieval=_heading_only(heading_encoder_weight=1), progress=False)
    assert fake_heading_encoder.calls > calls and headings_only.manifest["heading_lead_chars"] == 0
    assert headings_only.search("反向传播时导数连乘越来越小", k=1)[0].section_ref != "ml/basics#2"
    assert np.allclose(headings_only.heading_vectors[row],
                       fake_heading_encoder.embed_batch([notes.sections[row].heading_text])[0])


def test_embed_takes_what_the_vector_cache_holds_and_embeds_the_rest(tmp_path, fake_encoder):
    from index.encoders import VectorCache, embed

    texts = ["过拟合", "梯度消失", "锚框"]
    cached = np.eye(3, fake_encoder.dim, dtype=np.float32)[:2]
    VectorCache.save(tmp_path / "v.npz", texts[:2], cached)
    with np.load(tmp_path / "v.npz") as saved:
        cache = VectorCache(saved["keys"], saved["vectors"])
    calls = fake_encoder.calls
    out = embed(fake_encoder, texts, progress=False, cache=cache)
    assert np.array_equal(out[:2], cached) and fake_encoder.calls == calls + 1
    assert np.allclose(out[2], fake_encoder.embed_batch(["锚框"])[0])


def test_the_shipped_heading_vectors_cover_the_bundled_collection():
    """The package's cached vectors for the heading encoder must match today's collection, lead
    texts and chunks, or building the default index silently pays the full embedding time again
    (``python -m index.bundled_vectors`` rewrites them)."""
    from index.bundled_vectors import bundled_texts
    from index.encoders import DEFAULT_HEADING_ENCODER, VectorCache
    from index.store import heading_encoder_texts

    cache = VectorCache.bundled(DEFAULT_HEADING_ENCODER, 384)
    texts = bundled_texts()
    assert len(texts) > len(heading_encoder_texts(load_corpus("wethinkin").sections, IndexConfig())) + 3000
    missing = [text for text in texts if cache.get(text) is None]
    assert not missing, f"{len(missing)} of {len(texts)} texts not cached, e.g. {missing[0]!r}"
    assert np.allclose(np.linalg.norm(cache.vectors, axis=1), 1, atol=1e-3)


@pytest.mark.slow
def test_the_shipped_heading_vectors_are_the_encoders_own():
    from index.bundled_vectors import bundled_texts
    from index.encoders import VectorCache, make_heading_encoder

    encoder = make_heading_encoder(IndexConfig().heading_encoder)
    cache = VectorCache.bundled(encoder.id, encoder.dim)
    texts = bundled_texts()[::700]  # leads and chunks
    fresh = encoder.embed_batch(texts)
    assert all(float(cache.get(t) @ v) > 0.999 for t, v in zip(texts, fresh))


def test_a_query_is_searched_on_one_blas_thread_and_the_threads_are_given_back(notes, data_home, fake_encoder,
                                                                               fake_heading_encoder):
    from threadpoolctl import threadpool_limits

    seen = []
    embed_queries = fake_heading_encoder.embed_queries
    fake_heading_encoder.embed_queries = lambda texts: (seen.append(blas_threads()), embed_queries(texts))[1]
    index = open_index(notes, data_home, encoder=fake_encoder, heading_encoder=fake_heading_encoder, progress=False)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert index.search("梯度消失是什么")[0].section_ref == "ml/basics#2"
        assert blas_threads() == before
    assert seen and seen[-1] and set(seen[-1].values()) == {1}
    assert set(before.values()) == {2}


def test_searches_from_several_threads_run_one_at_a_time_and_give_the_threads_back(
        notes, data_home, fake_encoder, fake_heading_encoder):
    import threading
    import time

    from threadpoolctl import threadpool_limits

    log, release = [], threading.Event()
    embed_queries = fake_heading_encoder.embed_queries

    def held(texts):
        log.append(f"{texts[0]} in")
        if texts == ["锚框"]:
            release.wait(10)  # the first search holds here until the test lets it go
        log.append(f"{texts[0]} out")
        return embed_queries(texts)

    fake_heading_encoder.embed_queries = held
    index = open_index(notes, data_home, encoder=fake_encoder, heading_encoder=fake_heading_encoder, progress=False)
    results = {}
    workers = [threading.Thread(target=lambda q=q: results.update({q: index.search(q)[0].section_ref}))
               for q in ("锚框", "梯度消失是什么")]
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        workers[0].start()
        while not log:
            time.sleep(0.01)
        workers[1].start()
        time.sleep(0.3)
        assert log == ["锚框 in"]  # the second search waits for the first
        release.set()
        for worker in workers:
            worker.join(20)
        assert blas_threads() == before and set(before.values()) == {2}
    assert log == ["锚框 in", "锚框 out", "梯度消失是什么 in", "梯度消失是什么 out"]
    assert results == {"锚框": "cv/detect#2", "梯度消失是什么": "ml/basics#2"}


def blas_threads() -> dict[str, int]:
    """Threads of numpy's and faiss's BLAS (the ones a search multiplies with), by library file."""
    from threadpoolctl import threadpool_info

    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas" and ("numpy" in lib["filepath"] or "faiss" in lib["filepath"])}
