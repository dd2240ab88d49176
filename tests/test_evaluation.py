import json

import pytest

from assistant.evaluation import EvalQuestion, evaluate_retrieval, gold_matches, load_questions, retrieval_metrics
from assistant.report import write_report


def test_metrics_on_a_fake_retriever_with_known_ranks():
    questions = [
        EvalQuestion("a", "qa", ("1",), (), "zh"),  # gold at rank 1
        EvalQuestion("b", "qb", ("2",), (), "zh"),  # rank 2
        EvalQuestion("c", "qc", ("3", "4"), (), "en"),  # first gold (4) at rank 4
        EvalQuestion("d", "qd", ("9",), (), "en"),  # not retrieved
        EvalQuestion("e", "qe", (), (), "out"),  # not covered: no retrieval metric
    ]
    ranked = {"qa": ["d#1", "d#2"], "qb": ["d#5", "d#2"], "qc": ["d#5", "d#6", "d#7", "d#4", "d#3"], "qd": ["d#1"]}
    metrics, records = evaluate_retrieval(questions, lambda q: ranked[q.question], progress=False)
    assert metrics["n"] == 4
    assert metrics["hit@1"] == 0.25 and metrics["hit@3"] == 0.5 and metrics["hit@5"] == 0.75
    assert metrics["mrr"] == round((1 + 1 / 2 + 1 / 4 + 0) / 4, 4)
    assert metrics["by_type"]["zh"]["mrr"] == 0.75 and metrics["by_type"]["en"]["hit@5"] == 0.5
    assert "out" not in metrics["by_type"]
    assert [r.get("first_relevant_rank") for r in records] == [1, 2, 4, None, None]


def test_gold_references():
    assert gold_matches("7", "ml_basics_qa#7")
    assert not gold_matches("7", "ml_basics_qa#17")
    assert gold_matches("机器学习优化方法知识点#7", "机器学习基础/机器学习优化方法知识点#7")
    assert not gold_matches("机器学习优化方法知识点#7", "深度学习基础/深度学习优化方法知识点#7")
    assert retrieval_metrics([[]], [("1",)])["hit@5"] == 0.0


def test_load_questions_validates_lines(tmp_path):
    good = {"id": "x", "question": "q", "gold_sections": [7], "key_points": ["k"], "type": "zh"}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(good) + "\n\n", "utf-8")
    assert load_questions(path)[0].gold_sections == ("7",)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", "utf-8")
    with pytest.raises(ValueError, match=r"q.jsonl:2: duplicate id 'x'"):
        load_questions(path)
    path.write_text("{not json\n", "utf-8")
    with pytest.raises(ValueError, match=r"q.jsonl:1: not a valid question"):
        load_questions(path)


def test_bundled_question_sets_are_well_formed_and_disjoint():
    from conftest import REPO

    heldout = load_questions(REPO / "eval" / "heldout.jsonl")
    dev = load_questions(REPO / "eval" / "dev.jsonl")
    assert len(heldout) >= 40
    assert not {q.question for q in heldout} & {q.question for q in dev}
    covered = {g for q in heldout for g in q.gold_sections}
    assert covered == {str(n) for n in range(1, 18)}
    assert {"english", "multi_section", "out_of_corpus", "followup"} <= {q.type for q in heldout}


def test_report_files_are_written(tmp_path):
    report = {
        "retrieval": {"hit@1": 0.5, "hit@3": 1.0, "hit@5": 1.0, "mrr": 0.75, "n": 2,
                      "by_type": {"zh": {"hit@1": 0.5, "hit@3": 1.0, "hit@5": 1.0, "mrr": 0.75, "n": 2}}},
        "per_question": [{"id": "a", "question": "q", "gold": ["1"], "retrieved": ["d#2", "d#1"], "first_relevant_rank": 2}],
        "config": {"questions": "q.jsonl", "corpus": "c"},
    }
    json_path, md_path, png_path = write_report(report, tmp_path / "out" / "r.json")
    assert json.loads(json_path.read_text())["retrieval"]["mrr"] == 0.75
    assert "| zh | 2 | 0.500 | 1.000 | 1.000 | 0.750 |" in md_path.read_text()
    assert "`a` q" in md_path.read_text()
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
