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
    assert covered == {f"ml_basics_qa#{n}" for n in range(1, 18)}
    assert {"english", "multi_section", "out_of_corpus", "followup"} <= {q.type for q in heldout}


@pytest.mark.parametrize("name, corpus", [("dev", "seed"), ("heldout", "seed"), ("refusal_fresh", "seed"),
                                          ("collection_dev", "wethinkin"), ("collection_heldout", "wethinkin")])
def test_every_gold_ref_of_every_question_set_is_a_section_of_its_bundled_corpus(name, corpus):
    from conftest import REPO
    from corpus import load_corpus

    refs = {section.ref for section in load_corpus(corpus).sections}
    questions = load_questions(REPO / "eval" / f"{name}.jsonl")
    named = {g for q in questions for g in q.relevant}
    assert named and named <= refs, sorted(named - refs)[:5]


def test_the_collection_sets_are_disjoint_and_spread_as_the_issue_asks():
    from collections import Counter

    from conftest import REPO

    sets = {name: load_questions(REPO / "eval" / f"collection_{name}.jsonl") for name in ("dev", "heldout")}
    assert not {q.question for q in sets["dev"]} & {q.question for q in sets["heldout"]}
    for questions in sets.values():
        types = Counter(q.type for q in questions)
        files = {g.rpartition("#")[0] for q in questions for g in q.gold_sections}
        assert len(questions) >= 150 and len(files) >= 60
        assert types["english"] >= 30 and types["out_of_corpus"] >= 25 and types["followup"] and types["multi_section"]
        assert all(q.history for q in questions if q.type == "followup")


def test_also_relevant_sections_count_as_hits_and_folders_are_tabled():
    questions = [EvalQuestion("a", "qa", ("ml/x#1",), (), "zh", also_relevant=("cv/y#4",)),
                 EvalQuestion("b", "qb", ("cv/y#2",), (), "zh")]
    ranked = {"qa": ["cv/y#4", "ml/x#1"], "qb": ["cv/y#9", "cv/y#8", "cv/y#2"]}
    metrics, records = evaluate_retrieval(questions, lambda q: ranked[q.question], progress=False)
    assert [r["first_relevant_rank"] for r in records] == [1, 3]
    assert metrics["by_folder"] == {"cv": {"hit@1": 0.0, "hit@3": 1.0, "hit@5": 1.0, "mrr": 0.3333, "n": 1},
                                    "ml": {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "mrr": 1.0, "n": 1}}


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


def test_answer_and_refusal_metrics_by_hand():
    from assistant.evaluation import evaluate_answers, key_point_recall
    from assistant import Answer

    questions = [
        EvalQuestion("a", "qa", ("1",), ("过采样", "L2"), "zh"),
        EvalQuestion("b", "qb", ("2",), ("dropout",), "zh"),
        EvalQuestion("c", "qc", ("3",), ("x",), "zh"),  # wrongly refused
        EvalQuestion("o", "qo", (), (), "out"),  # rightly refused
        EvalQuestion("p", "qp", (), (), "out"),  # wrongly answered
    ]
    cite = lambda ref: {"n": 1, "ref": ref, "doc": "d", "section": ref[-1], "title": "t"}  # noqa: E731
    answers = {
        "qa": Answer("用过采样 [1]，还有 l2 [2]", [cite("d#1"), cite("d#9")], [], False, draft="用过采样 [1]"),
        "qb": Answer("Dropout 让神经元失活 [1]", [cite("d#2")], [], False),
        "qc": Answer("资料中没有涉及这个问题。", [], [], True, draft="资料中没有涉及这个问题。"),
        "qo": Answer("资料中没有涉及这个问题。", [], [], True),
        "qp": Answer("瞎编的答案", [], [], False),
    }
    answer, refusal, records = evaluate_answers(questions, lambda q: answers[q.question], progress=False)
    assert answer["key_point_recall"] == round((1 + 1 + 0) / 3, 4)  # case-insensitive: "l2" counts for "L2"
    assert answer["draft_key_point_recall"] == round(0.5 / 3, 4)  # the model's reply alone: half of qa's points
    assert answer["draft_refusal_rate"] == 0.5  # the model was asked qa and qc (qb's draft is empty), refused qc
    assert answer["citation_precision"] == round(2 / 3, 4)  # d#1 and d#2 gold, d#9 not
    assert refusal == {"accuracy": 0.5, "false_refusal_rate": round(1 / 3, 4), "n": 2}
    assert answer["n"] == 3 and [r["cited_gold"] for r in records[:2]] == [1, 1]
    assert key_point_recall("anything", []) == 0.0


def test_the_hand_graded_drill_answers_name_sections_of_the_collection_and_keep_halves_apart():
    import json

    from conftest import REPO
    from corpus import load_corpus

    refs = {section.ref for section in load_corpus("wethinkin").sections}
    items = [json.loads(line) for line in (REPO / "eval" / "drill_graded_collection.jsonl").read_text("utf-8").splitlines()]
    assert {item["section_ref"] for item in items} <= refs and len({item["id"] for item in items}) == len(items)
    halves = {split: {item["section_ref"] for item in items if item["split"] == split} for split in ("dev", "heldout")}
    assert halves["dev"] and halves["heldout"] and not halves["dev"] & halves["heldout"]
    assert {item["grade"] for item in items} == {0, 1, 2} and {item["split"] for item in items} == {"dev", "heldout"}
