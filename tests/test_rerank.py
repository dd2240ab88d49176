"""The model's second look at the top sections (assistant/answer/rerank.py): when it runs, how it
reorders, and that the refusal gate still reads the search's own order."""

import json

import pytest

from assistant.answer.rerank import PROMPT, rerank, reranks
from assistant.llm.base import Capabilities, ChatModel
from index import RetrievalConfig


class FavouringReader(ChatModel):
    """Scores a question as likely (0 per token) after the opening of the section titled
    ``favoured`` and unlikely (-3) after any other; replies with a fixed text."""

    capabilities = Capabilities(scoring=True)

    def __init__(self, favoured: str, device: str = "cpu"):
        self.favoured = favoured
        self.device = device
        self.scored = []  # (prompt, text) of each call

    def stream(self, messages, options=None):
        yield "过拟合是模型在训练集上表现好、在新数据上表现差的现象 [1]。"

    def continuation_logprobs(self, prompt, text):
        self.scored.append((prompt, text))
        return [0.0 if self.favoured in prompt else -3.0] * len(text)


@pytest.fixture
def seed_index(use_fake_encoder, data_home):
    from assistant.config import Config
    from assistant.indexing import open_search_index

    return open_search_index(Config().with_overrides(**{"corpus.path": "seed"}), progress=False)


def test_rerank_runs_where_the_model_scores_in_process_on_a_gpu_unless_set():
    auto, on, off = (RetrievalConfig(rerank=value) for value in ("auto", "on", "off"))
    assert not reranks(auto, FavouringReader("x", device="cpu"))
    assert reranks(auto, FavouringReader("x", device="cuda:0"))
    assert reranks(on, FavouringReader("x", device="cpu"))
    assert not reranks(off, FavouringReader("x", device="cuda"))

    class Server(ChatModel):  # a server cannot score a given text
        def stream(self, messages, options=None):
            yield ""

    assert not reranks(on, Server()) and not reranks(auto, None)
    with pytest.raises(ValueError, match="rerank should be one of"):
        RetrievalConfig(rerank="yes")
    with pytest.raises(ValueError, match="rerank_weight"):
        RetrievalConfig(rerank_weight=1.5)


def test_the_model_moves_the_section_it_reads_the_question_after_to_the_top(seed_index):
    hits = seed_index.search("正则化", k=8)
    last = seed_index.sections[hits[3].section_ref].title
    reader = FavouringReader(last)
    config = RetrievalConfig(rerank_candidates=4, rerank_weight=0.6)
    reranked = rerank(seed_index, reader, "正则化有什么用？", hits, config)
    assert reranked[0] is hits[3]  # the same hit: its search scores are kept for the gate
    assert reranked[1:4] == hits[:3] and reranked[4:] == hits[4:]  # the rest keep their order
    assert len(reader.scored) == 4 and all(text == "正则化有什么用？" for _, text in reader.scored)
    lead = seed_index.sections[hits[0].section_ref].lead_text(config.rerank_lead_chars)
    assert reader.scored[0][0] == PROMPT.format(lead=lead)


def test_a_small_model_share_leaves_a_clear_search_winner_first(seed_index):
    hits = seed_index.search("哈达玛积", k=5)
    assert hits[0].section_ref == "ml_basics_qa#12" and hits[1].score < hits[0].score
    reader = FavouringReader(seed_index.sections[hits[4].section_ref].title)
    assert rerank(seed_index, reader, "哈达玛积", hits, RetrievalConfig(rerank_weight=0))[:5] == hits
    top = rerank(seed_index, reader, "哈达玛积", hits, RetrievalConfig(rerank_weight=0.3))[0]
    assert top is hits[0]  # the search's 1 vs its last 0, against the model's 0 vs 1 at 0.3


def test_answers_use_the_reranked_sources_and_the_gate_the_search_order(seed_index):
    from assistant import StudyAssistant
    from dataclasses import replace

    seed_index.config = replace(seed_index.config, rerank="on", rerank_candidates=5)
    found = seed_index.search("过拟合怎么解决", k=5)
    favoured = found[2]
    reader = FavouringReader(seed_index.sections[favoured.section_ref].title)
    answer = StudyAssistant(seed_index, reader).ask("过拟合怎么解决")
    assert not answer.refused and answer.sources[0].section_ref == favoured.section_ref
    assert "rerank" in answer.timings and len(reader.scored) == 5
    seed_index.config = replace(seed_index.config, rerank="auto")  # on the CPU: not reranked
    reader.scored.clear()
    answer = StudyAssistant(seed_index, reader).ask("过拟合怎么解决")
    assert answer.sources[0].section_ref == found[0].section_ref and not reader.scored


def test_a_refused_question_costs_no_reading(seed_index):
    from assistant import StudyAssistant
    from dataclasses import replace

    seed_index.config = replace(seed_index.config, rerank="on")
    reader = FavouringReader("过拟合")
    answer = StudyAssistant(seed_index, reader).ask("怎么煮鸡蛋？")
    assert answer.refused and not reader.scored


def test_eval_scores_retrieval_in_the_reranked_order(run, monkeypatch, tmp_path):
    question = "L1和L2正则化有什么区别"
    code, out, _ = run("search", question, "--k", "10", "--json")
    target = json.loads(out)[6]  # seventh by the search: outside the top 5 the eval scores
    reader = FavouringReader(target["title"])
    monkeypatch.setattr("assistant.llm.load_chat_model", lambda *args, **kwargs: reader)
    questions = tmp_path / "q.jsonl"
    rows = [{"id": "1", "question": question, "gold_sections": [target["section_ref"]], "type": "zh"}]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    out = tmp_path / "r.json"
    code, _, _ = run("eval", "--questions", str(questions), "--out", str(out), "--retrieval-only")
    plain = json.loads(out.read_text())
    assert code == 0 and not plain["config"]["reranked"] and not reader.scored
    assert plain["per_question"][0]["first_relevant_rank"] is None
    config = tmp_path / "rerank.toml"
    config.write_text('[retrieval]\nrerank = "on"\n', "utf-8")
    code, _, _ = run("eval", "--questions", str(questions), "--out", str(out), "--retrieval-only",
                     "--config", str(config))
    report = json.loads(out.read_text())
    assert code == 0 and report["config"]["reranked"] and len(reader.scored) == 10
    assert report["per_question"][0]["first_relevant_rank"] == 1


def test_a_model_that_fails_to_read_leaves_the_search_order_with_a_warning(seed_index, caplog):
    class Failing(FavouringReader):
        def continuation_logprobs(self, prompt, text):
            raise RuntimeError("CUDA out of memory")

    hits = seed_index.search("正则化", k=6)
    assert rerank(seed_index, Failing("x"), "正则化有什么用？", hits) == hits
    assert "Reranking failed (RuntimeError: CUDA out of memory)" in caplog.text


def test_related_sources_are_measured_against_the_best_search_score_not_the_models_pick(seed_index):
    from assistant.answer.sources import related_hits

    hits = seed_index.search("哈达玛积", k=5)
    low = min(hits, key=lambda hit: hit.score)
    reordered = [low] + [hit for hit in hits if hit is not low]
    kept = related_hits(reordered, 0.45)
    best = max(hit.score for hit in hits)
    assert kept[0] is low  # the model's pick leads whatever its score
    assert all(hit.score >= 0.45 * best for hit in kept[1:])
    assert related_hits(hits, 0.45) == [hits[0]] + [h for h in hits[1:] if h.score >= 0.45 * hits[0].score]


def test_rerank_on_with_a_model_that_cannot_score_says_so_once(caplog, monkeypatch):
    monkeypatch.setattr("assistant.answer.rerank._WARNED", set())

    class Server(ChatModel):
        def stream(self, messages, options=None):
            yield ""

    on = RetrievalConfig(rerank="on")
    assert not reranks(on, Server()) and not reranks(on, Server())
    assert caplog.text.count("cannot score a given text") == 1
