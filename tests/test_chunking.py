import pytest

from corpus import ChunkConfig, Section, chunk_sections, load_corpus


def test_chunks_are_exact_spans_of_one_section_each():
    sections = load_corpus("seed").sections
    config = ChunkConfig(max_chars=200, overlap_chars=40)
    chunks = chunk_sections(sections, config)
    by_ref = {s.ref: s for s in sections}
    assert {c.section_ref for c in chunks} == set(by_ref)
    for chunk in chunks:
        section = by_ref[chunk.section_ref]
        assert chunk.text == section.text[chunk.start : chunk.end]
        assert len(chunk.text) <= config.max_chars
        assert chunk.title == section.title
        assert chunk.embed_text.startswith(section.title)


def test_chunks_cover_the_whole_section_in_order():
    section = Section("d", "1", "T", "。".join(f"第{i}句话" for i in range(60)))
    chunks = chunk_sections([section], ChunkConfig(max_chars=50, overlap_chars=10))
    assert chunks[0].start == 0 and chunks[-1].end == len(section.text)
    for before, after in zip(chunks, chunks[1:]):
        assert after.start > before.start  # always moves forward
        assert after.start <= before.end  # no gap
        assert before.end - after.start <= 10  # overlap within the limit


def test_code_block_and_formula_are_not_cut_when_they_fit():
    code = "```\n" + "\n".join(f"line_{i} = {i}" for i in range(8)) + "\n```"
    formula = "$$\na + b\n= c\n$$"
    section = Section("d", "1", "T", f"介绍。\n\n{code}\n\n{formula}\n\n结尾。")
    texts = [c.text for c in chunk_sections([section], ChunkConfig(max_chars=len(code) + 5, overlap_chars=0))]
    assert any(code in t for t in texts)
    assert any(formula in t for t in texts)


def test_chunk_knows_its_sub_heading():
    section = Section("d", "1", "T", "引言。\n\n#### 方法\n\n" + "方法内容。" * 30)
    chunks = chunk_sections([section], ChunkConfig(max_chars=60, overlap_chars=0))
    assert chunks[0].heading == ""
    assert chunks[-1].heading == "方法"
    assert "方法" in chunks[-1].embed_text.split("\n")[1]


def test_empty_section_still_gets_a_title_chunk():
    chunks = chunk_sections([Section("d", "4", "只有标题?", "")])
    assert [(c.id, c.text, c.embed_text) for c in chunks] == [("d#4:0", "", "只有标题?")]


@pytest.mark.parametrize("max_chars, overlap", [(0, 0), (100, 100), (100, -1)])
def test_bad_chunk_settings_are_rejected(max_chars, overlap):
    with pytest.raises(ValueError, match="should be"):
        ChunkConfig(max_chars=max_chars, overlap_chars=overlap)
