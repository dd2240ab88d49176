"""Re-score stored eval runs through today's answer pipeline, without the model.

    python benchmarks/replay_answers.py --questions eval/dev.jsonl RUN.json [RUN.json ...] \
        [--config FILE] [--set answer.quote_chars=400 ...] [--show]

Every answer of a ``study-assistant eval`` run that reached the model keeps the model's own reply
(``draft``). Here each question goes through ``StudyAssistant`` again with a generator that says
that stored reply, so everything after generation (citation checks, re-citing copied lines, the
grounding check, quotes) is today's code and settings,
and the run's figures are recomputed with ``evaluate_answers``. Prints each run's figures as
stored and as replayed, and the answers that changed. Valid only for changes after generation:
the prompt (retrieval, ``related_share``, ``source_chars``) must be the one the run's model saw:
give ``--config`` the settings the runs were made with. A replay of a run on the code that made it
reproduces it exactly (session 15: all four session-14 runs; today, with ``[answer] related_share = 0``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stored_runs import open_runs

FIGURES = (("key_point_recall", "answer"), ("draft_key_point_recall", "answer"),
           ("citation_precision", "answer"), ("accuracy", "refusal"), ("false_refusal_rate", "refusal"))


class StoredReply:
    """A generator that says the reply stored for the current question."""

    def __init__(self):
        self.reply = ""

    def stream(self, messages, **options):
        if self.reply:
            yield self.reply


def setting(text: str) -> tuple[str, object]:
    """``"answer.related_share=0.5"`` -> ``("answer.related_share", 0.5)`` (TOML value syntax)."""
    import tomllib

    name, sep, value = text.partition("=")
    if not sep or "." not in name:
        raise argparse.ArgumentTypeError(f"expected section.key=value, got {text!r}")
    return name.strip(), tomllib.loads(f"v = {value.strip()}")["v"]


def main() -> None:
    def overrides(parser):
        parser.add_argument("--set", dest="settings", type=setting, action="append", default=[],
                            metavar="SECTION.KEY=VALUE",
                            help="override a setting used after generation, e.g. answer.quote_chars (repeatable)")
        parser.add_argument("--show", action="store_true", help="after the table, each changed answer as stored and as replayed")

    args, config, index = open_runs(__doc__, overrides)

    from assistant.evaluation import evaluate_answers, load_questions
    from assistant.study import StudyAssistant

    config = config.with_overrides(**dict(args.settings))
    generator = StoredReply()
    assistant = StudyAssistant(index, generator, config.answer)
    questions = load_questions(args.questions)

    shown = []
    print("| run | " + " | ".join(name for name, _ in FIGURES) + " | answers changed |")
    print("|---|" + "---|" * (len(FIGURES) + 1))
    for run in args.runs:
        stored = json.loads(Path(run).read_text("utf-8"))
        replies = {r["id"]: r for r in stored["per_question"]}

        def ask(item):
            generator.reply = replies[item.id].get("draft") or ""
            return assistant.ask(item.question, list(item.history))

        answers, refusals, records = evaluate_answers(questions, ask, progress=False)
        now = {"answer": answers, "refusal": refusals}
        changed = [r["id"] for r in records if r["answer"] != replies[r["id"]]["answer"]]
        cells = [f"{stored[part][name]:.3f} → {now[part][name]:.3f}" for name, part in FIGURES]
        print(f"| {Path(run).name} | " + " | ".join(cells) + f" | {len(changed)} {' '.join(changed)} |")
        if args.show:
            shown += [(Path(run).name, r, replies[r["id"]]) for r in records if r["id"] in changed]
    for name, now, before in shown:
        print(f"\n## {name} {now['id']}: {now['question']}\n\nstored:\n{before['answer']}\n\nreplayed:\n{now['answer']}")


if __name__ == "__main__":
    main()
