"""Re-score stored eval runs through today's answer pipeline, without the model.

    python benchmarks/replay_answers.py --questions eval/dev.jsonl RUN.json [RUN.json ...] \
        [--config FILE] [--set answer.quote_chars=400 ...] [--show]

Every answer of a ``study-assistant eval`` run that reached the model keeps the model's own reply
(``draft``). Here each question goes through ``StudyAssistant`` again with a generator that says
that stored reply, so everything after generation (citation checks, re-citing copied lines, the
grounding check, quotes) is today's code and settings,
and the run's figures are recomputed with ``evaluate_answers``, the rule judge's rates with them. Prints
each run's figures as stored and as replayed, and the answers that changed (also written, with
every replayed answer, to benchmarks/results/replay_answers.json, ``--out``). Valid only for changes after generation:
the prompt (retrieval, ``related_share``, ``source_chars``) must be the one the run's model saw:
give ``--config`` the settings the runs were made with. A replay of a run on the code that made it
reproduces it exactly, so a replay of a run made before a change to the answer pipeline shows what
that change does to the same replies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = (("key_point_recall", "answer"), ("draft_key_point_recall", "answer"),
           ("citation_precision", "answer"), ("accuracy", "refusal"), ("false_refusal_rate", "refusal"))


def stored_reply():
    """A ``ChatModel`` that says the reply stored for the current question (set ``.reply``)."""
    from assistant.llm.base import ChatModel

    class StoredReply(ChatModel):
        reply = ""

        def stream(self, messages, options=None):
            if self.reply:
                yield self.reply

    return StoredReply()


def setting(text: str) -> tuple[str, object]:
    """``"answer.related_share=0.5"`` -> ``("answer.related_share", 0.5)`` (TOML value syntax)."""
    import tomllib

    name, sep, value = text.partition("=")
    if not sep or "." not in name:
        raise argparse.ArgumentTypeError(f"expected section.key=value, got {text!r}")
    return name.strip(), tomllib.loads(f"v = {value.strip()}")["v"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="eval --out JSON files made on --questions")
    parser.add_argument("--questions", default=str(REPO / "eval" / "dev.jsonl"))
    parser.add_argument("--config", help="TOML config the runs were made with (default: built-in defaults)")
    parser.add_argument("--set", dest="settings", type=setting, action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override a setting used after generation, e.g. answer.quote_chars (repeatable)")
    parser.add_argument("--show", action="store_true", help="after the table, each changed answer as stored and as replayed")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "replay_answers.json"),
                        help="each run's figures as stored and as replayed, and the answers that changed (JSON)")
    args = parser.parse_args()

    from assistant.config import Config
    from assistant.evaluation import evaluate_answers, judge_answers, load_questions
    from assistant.judge import RuleJudge
    from assistant.indexing import open_search_index
    from assistant import StudyAssistant

    config = Config.load(args.config).with_overrides(**dict(args.settings))
    index = open_search_index(config, progress=False)
    generator = stored_reply()
    assistant = StudyAssistant(index, generator, config.answer)
    questions = load_questions(args.questions)

    shown, results = [], {}
    print("| run | " + " | ".join(name for name, _ in FIGURES) + " | answers changed |")
    print("|---|" + "---|" * (len(FIGURES) + 1))
    for run in args.runs:
        stored = json.loads(Path(run).read_text("utf-8"))
        replies = {r["id"]: r for r in stored["per_question"]}

        def ask(item):
            generator.reply = replies[item.id].get("draft") or ""
            return assistant.ask(item.question, list(item.history))

        judge = judge_answers(RuleJudge(index.tokenizer), index.sections)
        answers, refusals, records = evaluate_answers(questions, ask, progress=False, judge=judge)
        now = {"answer": answers, "refusal": refusals}
        changed = [r["id"] for r in records if r["answer"] != replies[r["id"]]["answer"]]
        cells = [f"{stored[part][name]:.3f} → {now[part][name]:.3f}" for name, part in FIGURES]
        print(f"| {Path(run).name} | " + " | ".join(cells) + f" | {len(changed)} {' '.join(changed)} |")
        judged = {name: answers[name] for name in ("correct_rate", "incomplete_rate", "wrong_rate", "contradiction_rate",
                                                   "off_topic_rate", "withheld_rate", "unsupported_rate")}
        results[str(run)] = {"stored": {name: stored[part][name] for name, part in FIGURES},
                             "replayed": {name: now[part][name] for name, part in FIGURES}, "changed": changed,
                             "judged": judged, "per_question": records}
        if args.show:
            shown += [(Path(run).name, r, replies[r["id"]]) for r in records if r["id"] in changed]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"questions": args.questions, "settings": dict(args.settings), "runs": results},
                              ensure_ascii=False, indent=2) + "\n", "utf-8")
    for run, result in results.items():
        print(f"{Path(run).name} replayed, rule judge: " + "  ".join(f"{k} {v:.3f}" for k, v in result["judged"].items()))
    for name, now, before in shown:
        print(f"\n## {name} {now['id']}: {now['question']}\n\nstored:\n{before['answer']}\n\nreplayed:\n{now['answer']}")


if __name__ == "__main__":
    main()
