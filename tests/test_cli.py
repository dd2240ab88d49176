import json
import os
import subprocess
import sys

import pytest

from assistant.llm.base import ChatModel
from conftest import REPO


def test_index_build_then_info(run, seed_corpus_dir):
    code, out, _ = run("index", "build", "--corpus", str(seed_corpus_dir))
    assert code == 0 and "5 sections" in out and "2 file(s)" in out
    code, out, _ = run("index", "info", "--corpus", str(seed_corpus_dir))
    info = json.loads(out)
    assert info["n_sections"] == 5 and info["encoder"] == "test-bigram-64" and info["vector_index"] == "flat"


def test_search_json_lists_hits_with_scores(run, seed_corpus_dir):
    code, out, _ = run("search", "神经元失活", "--k", "2", "--json", "--corpus", str(seed_corpus_dir))
    hits = json.loads(out)
    assert code == 0 and len(hits) == 2
    assert hits[0]["section_ref"] == "basics#2" and hits[0]["section"] == "2"
    assert set(hits[0]) >= {"doc", "section", "title", "text", "score", "dense_score", "bm25_score"}


def test_search_text_output_on_the_seed_corpus(run):
    code, out, _ = run("search", "哈达玛积", "--corpus", "seed")
    assert code == 0 and out.startswith("[1] ml_basics_qa #12 ")


def test_the_default_corpus_is_the_collection_and_scope_narrows_search(run, monkeypatch):
    monkeypatch.setattr("corpus.loading.DEFAULT_CORPUS", "wethinkin")
    code, out, _ = run("search", "哈达玛积", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["section_ref"] == "机器学习基础/机器学习优化方法知识点#12"
    assert len({hit["doc"].split("/")[0] for hit in hits}) > 1  # the whole collection was searched
    code, out, _ = run("search", "哈达玛积", "--json", "--scope", "深度学习基础", "--scope", "大模型基础/基础知识.md")
    hits = json.loads(out)
    assert code == 0 and hits
    assert all(h["doc"].startswith("深度学习基础/") or h["doc"] == "大模型基础/基础知识" for h in hits)
    code, _, err = run("search", "哈达玛积", "--scope", "没有这一章")
    assert code == 2 and "没有这一章" in err and "深度学习基础" in err


def test_empty_query_is_exit_code_2(run):
    code, _, err = run("search", "   ")
    assert code == 2 and "query is empty" in err


def test_long_query_is_truncated_with_a_warning(run, seed_corpus_dir, caplog):
    code, out, _ = run("search", "鞍点" * 1500, "--corpus", str(seed_corpus_dir), "--json")
    assert code == 0 and json.loads(out)
    assert "searching with its first 2000" in caplog.text


def test_missing_corpus_is_a_plain_error(run, tmp_path):
    code, _, err = run("search", "x", "--corpus", str(tmp_path / "nope"))
    assert code == 1 and err.startswith("error: Corpus path") and "Traceback" not in err


def test_eval_retrieval_only_writes_report(run, tmp_path):
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "1", "question": "哈达玛积是什么", "gold_sections": [12], "key_points": [], "type": "zh"},
        {"id": "2", "question": "怎么煮鸡蛋", "gold_sections": [], "key_points": [], "type": "out_of_corpus"},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    out = tmp_path / "r" / "report.json"
    code, stdout, _ = run("eval", "--questions", str(questions), "--out", str(out), "--retrieval-only")
    assert code == 0 and "hit@1 1.000" in stdout
    report = json.loads(out.read_text())
    assert report["retrieval"]["n"] == 1 and "answer" not in report
    assert out.with_suffix(".md").exists() and out.with_suffix(".png").exists()


def test_eval_refuses_a_question_set_whose_gold_sections_are_not_in_the_corpus(run, tmp_path):
    questions = tmp_path / "q.jsonl"
    row = {"id": "1", "question": "哈达玛积是什么", "gold_sections": ["ml_basics_qa#12", "其他/笔记#3"], "type": "zh"}
    questions.write_text(json.dumps(row, ensure_ascii=False), "utf-8")
    code, _, err = run("eval", "--questions", str(questions), "--out", str(tmp_path / "r.json"), "--retrieval-only")
    assert code == 2 and "1 gold sections" in err and "其他/笔记#3" in err and "--corpus" in err
    assert not (tmp_path / "r.json").exists()


def test_console_script_help_and_exit_code():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "--help"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "search" in done.stdout and "index" in done.stdout
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "search", ""], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "query is empty" in done.stderr


@pytest.fixture
def fake_assistant(monkeypatch, use_fake_encoder):
    """`load_assistant` returns a StudyAssistant over the seed corpus with a scripted generator."""
    from assistant import cli
    from assistant.config import Config
    from assistant.indexing import open_search_index
    from assistant import StudyAssistant

    class Scripted(ChatModel):
        def stream(self, messages, options=None):
            yield from ["鞍点是一个既不是局部最小值", "也不是局部最大值的点 [1]。"]  # a copied clause

    def load(args, rag=True):
        return StudyAssistant(open_search_index(cli.load_config(args), progress=False), Scripted(), rag=rag)

    monkeypatch.setattr(cli, "load_assistant", load)
    return Config


def test_ask_streams_the_answer_and_lists_sources(fake_assistant, run):
    code, out, _ = run("ask", "什么是鞍点？")
    # the notes first; the model's line only repeats the first quote, so it is not shown again
    assert code == 0 and out.startswith("资料原文要点：\n> 在数学和优化领域,**鞍点是一个既不是局部最小值也不是局部最大值的点")
    assert "归纳" not in out
    assert " *[1] ml_basics_qa #13 " in out


def test_ask_json_has_the_answer_fields(fake_assistant, run):
    code, out, _ = run("ask", "什么是鞍点？", "--json")
    answer = json.loads(out)
    assert code == 0 and set(answer) >= {"text", "citations", "sources", "refused", "timings"}
    assert answer["citations"][0]["ref"] == "ml_basics_qa#13"


def test_empty_question_is_exit_code_2(fake_assistant, run):
    assert run("ask", " ")[0] == 2


def test_chat_keeps_history_and_answers_commands(fake_assistant, run, monkeypatch):
    inputs = iter(["什么是鞍点？", "/sources", "那怎么逃离它？", "/reset", "/quit"])
    monkeypatch.setattr("builtins.input", lambda _: next(inputs))
    code, out, _ = run("chat")
    assert code == 0 and out.count("资料原文要点") == 2
    assert "Sources:" in out and "(new conversation)" in out


def test_eval_with_answers_writes_answer_and_refusal_metrics(fake_assistant, run, tmp_path):
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "1", "question": "什么是鞍点？", "gold_sections": [13], "key_points": ["局部最小值"], "type": "zh"},
        {"id": "2", "question": "How long should I boil an egg?", "gold_sections": [], "key_points": [], "type": "out_of_corpus"},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    out = tmp_path / "report.json"
    code, stdout, _ = run("eval", "--questions", str(questions), "--out", str(out))
    report = json.loads(out.read_text())
    assert code == 0 and report["answer"]["key_point_recall"] == 1.0 and report["answer"]["citation_precision"] == 1.0
    assert report["refusal"] == {"accuracy": 1.0, "false_refusal_rate": 0.0, "n": 1}
    assert report["answer"]["first_words_median_s"] == report["per_question"][0]["timings"]["first_token"] > 0
    timings = report["per_question"][0]["timings"]
    assert report["answer"]["model_first_token_median_s"] == timings["model_first_token"] >= timings["first_token"]
    assert "## Answers" in out.with_suffix(".md").read_text() and "first words" in stdout


def test_serve_loads_once_builds_the_page_and_launches_on_the_given_port(fake_assistant, run, monkeypatch):
    import gradio as gr

    import ui

    launched = {}
    monkeypatch.setattr(ui, "launch", lambda app, config, block: launched.update(app=app, config=config, block=block))
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    code, _, err = run("serve", "--port", "8123")
    assert code == 0 and isinstance(launched["app"], gr.Blocks) and launched["block"] is False
    assert (launched["config"].host, launched["config"].port, launched["config"].share) == ("127.0.0.1", 8123, False)
    assert "Loading the index and the model" in err and "http://127.0.0.1:8123" in err


def test_ask_shows_the_revised_answer_when_the_draft_is_replaced(monkeypatch, use_fake_encoder, run):
    from assistant import cli
    from assistant.indexing import open_search_index
    from assistant import AnswerConfig, StudyAssistant

    class OffTopic(ChatModel):
        def stream(self, messages, options=None):
            yield "Transformer 的位置编码使用正弦函数 [1]。"

    def load(args, rag=True):
        index = open_search_index(cli.load_config(args), progress=False)
        # own words shown, before the quotes
        return StudyAssistant(index, OffTopic(), AnswerConfig(refuse_below=0.0, synthesis="free", notes_first=False))

    monkeypatch.setattr(cli, "load_assistant", load)
    code, out, _ = run("ask", "什么是鞍点？")
    draft, revised = out.split("[修订后的回答: the draft above was not supported by the sources]\n")
    assert code == 0 and draft.startswith("Transformer") and revised.startswith("资料原文要点：")


def test_ask_says_when_the_answer_only_tidied_the_draft(monkeypatch, use_fake_encoder, run):
    """A copied line cited to the wrong source: the revised answer follows, saying it was tidied."""
    from assistant import cli
    from assistant.indexing import open_search_index
    from assistant import AnswerConfig, StudyAssistant
    from assistant.answer.sources import prompt_sources

    question = "什么是鞍点？"
    copied = {}

    class CitesFirst(ChatModel):
        def stream(self, messages, options=None):
            yield f"{copied['line']} [1]"

    def load(args, rag=True):
        index = open_search_index(cli.load_config(args), progress=False)
        config = AnswerConfig(refuse_below=0.0, related_share=0.0, notes_first=False)  # [2] however weak is kept
        hits = index.search(question, k=config.k)
        sources = [text for _, text in prompt_sources(index, question, hits, config.source_chars)]
        copied["line"] = next(line for line in sources[1].splitlines()
                              if len(line) > 10 and not line.startswith("#") and line not in sources[0])
        return StudyAssistant(index, CitesFirst(), config)

    monkeypatch.setattr(cli, "load_assistant", load)
    code, out, _ = run("ask", question)
    draft, revised = out.split("[修订后的回答: citations and repeated lines tidied]\n")
    assert code == 0 and draft.startswith(f"{copied['line']} [1]") and revised.startswith(f"{copied['line']} [2]")


def test_drill_grades_answers_shows_progress_and_keeps_history(use_fake_encoder, run, monkeypatch, data_home):
    from assistant import StudyAssistant, cli
    from assistant.indexing import open_search_index
    from fakes import CopyingReader

    reader = CopyingReader()  # the model drill loads by default reads each answer after the notes
    monkeypatch.setattr(cli, "load_assistant", lambda args, rag=True: StudyAssistant(
        open_search_index(cli.load_config(args), progress=False), reader))
    inputs = iter(["采集更多数据，数据增强，过采样，损失函数加权", "/progress", "/skip", "/quit"])
    monkeypatch.setattr("builtins.input", lambda _: next(inputs))
    code, out, _ = run("drill", "--learner", "ana")
    assert code == 0 and "第1题：数据类别不平衡怎么处理?" in out and "得分" in out and "✓" in out
    assert [text for _, text in reader.scored] == ["采集更多数据，数据增强，过采样，损失函数加权"] * 2  # the skip is not read
    assert "1 次，最近" in out and "参考：ml_basics_qa 第1题" in out
    from assistant.drill.store import DrillStore

    reviews = DrillStore.open(data_home / "drill.sqlite3").reviews("ana")
    assert [r["section_ref"] for r in reviews] == ["ml_basics_qa#1", "ml_basics_qa#2"]  # the skip counts as 0
    assert "现在记得的把握" in out and "分钟后再练" in out  # FSRS: a first answer comes back within minutes


def test_drill_self_rating_is_asked_checked_and_recorded(use_fake_encoder, run, monkeypatch, data_home):
    inputs = iter(["数据增强", "perfect", "easy", "/quit"])
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or next(inputs))
    code, out, _ = run("drill", "--learner", "ana", "--self-rate", "--rules-only")
    assert code == 0 and "again, hard, good, easy" in out and sum("自评" in p for p in prompts) == 2
    from assistant.drill.store import DrillStore

    assert [r["rating"] for r in DrillStore.open(data_home / "drill.sqlite3").reviews("ana")] == ["easy"]


def test_drill_stops_when_todays_queue_is_done_and_checks_its_scope(use_fake_encoder, run, monkeypatch, data_home):
    inputs = iter(["数据增强", "过采样", "/quit"])
    monkeypatch.setattr("builtins.input", lambda _: next(inputs))
    code, out, _ = run("drill", "--learner", "ana", "--new-per-day", "1", "--scope", "ml_basics_qa", "--rules-only")
    assert code == 0 and "today 0 due, 1 new" in out and "今天的队列已完成（今天新学 1 题，上限 1）" in out
    assert "分钟后到期" in out and out.count("第1题：") == 1
    code, _, err = run("drill", "--learner", "ana", "--scope", "深度学习基础", "--rules-only")
    assert code == 2 and "No chapter '深度学习基础'" in err


def test_drill_fit_needs_enough_reviews(use_fake_encoder, run, data_home):
    code, _, err = run("drill", "--learner", "ana", "--fit", "--rules-only")
    assert code == 1 and "fitting needs at least 512" in err and "default parameters stay" in err


def test_drill_on_a_damaged_store_is_a_clear_error_then_recovers(use_fake_encoder, run, monkeypatch, data_home):
    data_home.mkdir(parents=True, exist_ok=True)
    (data_home / "drill.sqlite3").write_bytes(b"garbage" * 200)
    code, _, err = run("drill", "--rules-only")
    assert code == 1 and "cannot be read" in err and "--recover" in err
    monkeypatch.setattr("builtins.input", lambda _: "/quit")
    code, _, err = run("drill", "--recover", "--rules-only")
    assert code == 0 and "Kept the damaged progress file" in err
    assert len(list(data_home.glob("drill.sqlite3.damaged-*"))) == 1


def test_train_lora_builds_its_prompts_with_the_shipped_recipe_unless_told(run, tmp_path):
    """train-lora on a tiny model: the training prompts show the sources as ``TRAINING_SOURCES``
    says (400-character chunk extracts of all k sections, whatever the assistant is served with),
    the flags change that, and training.json records how they were built."""
    from tiny_model import build_tiny_qwen2

    from assistant.training.examples import TARGET_CHARS, TARGET_POINTS, TRAINING_SOURCES

    model = build_tiny_qwen2(tmp_path / "tiny")
    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nmodel = "{model}"\n[answer]\nsource_chars = 900\n', "utf-8")
    trained = {}
    for name, flags in (("recipe", []), ("chosen", ["--source-scope", "section", "--related-share", "0.45", "--seed", "3",
                                                   "--target-points", "10", "--target-chars", "800"])):
        code, out, err = run("train-lora", "--config", str(config), "--device", "cpu", "--epochs", "1", "--limit", "2",
                             "--heldout", "", "--out", str(tmp_path / name), *flags)
        assert code == 0, err
        assert "Saved the adapter" in out
        meta = json.loads((tmp_path / name / "training.json").read_text("utf-8"))
        trained[name] = meta["dataset"]["prompt"]
        assert meta["settings"]["seed"] == (3 if flags else 0)
    assert trained["recipe"] == {"k": 3, "source_chars": TRAINING_SOURCES["source_chars"],
                                 "scope": TRAINING_SOURCES["source_scope"], "related_share": 0.0,
                                 "max_points": TARGET_POINTS, "max_chars": TARGET_CHARS}
    assert trained["chosen"] == {"k": 3, "source_chars": 400, "scope": "section", "related_share": 0.45,
                                 "max_points": 10, "max_chars": 800}
    code, _, err = run("train-lora", "--config", str(config), "--related-share", "2", "--out", str(tmp_path / "x"))
    assert code == 1 and "related_share" in err
    code, _, err = run("train-lora", "--config", str(config), "--target-chars", "0", "--out", str(tmp_path / "x"))
    assert code == 1 and "--target-chars should be positive" in err


def test_train_lora_on_a_sample_of_sections_records_them_and_check_rebuilds_them(run, tmp_path, monkeypatch):
    """--sections N asks about N sections spread over the files, none of the held-out set's gold
    ones; training.json records them, --check rebuilds that sample, and a recorded section the
    corpus lacks is named."""
    from tiny_model import build_tiny_qwen2

    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nmodel = "{build_tiny_qwen2(tmp_path / "tiny")}"\n', "utf-8")
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text("".join(json.dumps({"id": f"h{n}", "question": f"问题{n}？", "gold_sections": [str(n)]}) + "\n"
                               for n in range(1, 11)), "utf-8")
    code, _, err = run("train-lora", "--config", str(config), "--device", "cpu", "--epochs", "1", "--limit", "2",
                       "--sections", "5", "--heldout", str(heldout), "--heldout-loss", "2", "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert "about 5 of the corpus's 17 sections" in err and "(10 held-out gold sections left out)" in err
    meta = json.loads((tmp_path / "a" / "training.json").read_text("utf-8"))
    sections = meta["dataset"]["prompt"]["sections"]
    assert len(set(sections)) == 5 and all(int(ref.rpartition("#")[2]) > 10 for ref in sections)
    assert meta["heldout_reference_loss"]["answers"] == 2 and "Held-out loss, base:" in err
    meta["dataset"]["examples"] = 0  # --limit cut the examples: --check rebuilds the whole sample and says so
    (tmp_path / "a" / "training.json").write_text(json.dumps(meta), "utf-8")
    code, out, _ = run("train-lora", "--check", "--adapter", str(tmp_path / "a"))
    assert code == 1 and "adapter was trained on 0" in out
    meta["dataset"]["prompt"]["sections"] = ["elsewhere#1"]
    (tmp_path / "a" / "training.json").write_text(json.dumps(meta), "utf-8")
    code, _, err = run("train-lora", "--check", "--adapter", str(tmp_path / "a"))
    assert code == 1 and "elsewhere#1" in err and "another --corpus" in err
    monkeypatch.setattr("assistant.cli.SAMPLED_SECTIONS", 10)  # a corpus larger than this is sampled by default
    code, _, err = run("train-lora", "--config", str(config), "--device", "cpu", "--epochs", "1", "--limit", "1",
                       "--heldout", "", "--out", str(tmp_path / "b"))
    assert code == 0 and "about 10 of the corpus's 17 sections" in err and "No held-out question set" in err
    code, _, err = run("train-lora", "--config", str(config), "--sections", "-1", "--out", str(tmp_path / "x"))
    assert code == 2 and "--sections" in err
    code, _, err = run("train-lora", "--config", str(config), "--sections", "3", "--heldout", "eval/heldout.jsonl",
                       "--out", str(tmp_path / "x"))
    assert code == 2 and "Every section of the corpus is a gold section" in err


def test_train_lora_check_says_whether_todays_code_builds_the_recorded_examples(run, tmp_path):
    """--check trains nothing: it rebuilds the examples of an adapter's recorded recipe and
    compares count, kinds and sha256 with its training.json (exit 1 when retraining is due)."""
    from collections import Counter

    from assistant.config import Config
    from assistant.indexing import open_search_index
    from assistant.training.examples import dataset_hash
    from assistant.training.recipe import Recipe, recipe_examples

    config = Config.load(None)
    recipe = Recipe()
    examples = recipe_examples(open_search_index(config, progress=False), config.answer, recipe)
    record = {"examples": len(examples), "kinds": dict(Counter(e.kind for e in examples)),
              "sha256": dataset_hash(examples), "prompt": recipe.prompt(config.answer)}
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "training.json").write_text(json.dumps({"dataset": record}), "utf-8")
    code, out, _ = run("train-lora", "--check", "--adapter", str(adapter))
    assert code == 0 and f"builds the {len(examples)} examples" in out
    (adapter / "training.json").write_text(json.dumps({"dataset": {**record, "sha256": "0" * 64}}), "utf-8")
    code, out, _ = run("train-lora", "--check", "--adapter", str(adapter))
    assert code == 1 and "Retrain" in out and "sha256" in out
