"""How far the answer judge agrees with hand labels (eval/answer_labels.jsonl).

    python benchmarks/answer_judge.py                       # the rule judge, dev and held-out halves
    python benchmarks/answer_judge.py --base-url http://127.0.0.1:8080/v1   # a served model beside the rules
    python benchmarks/answer_judge.py --split dev --show    # each disagreement, to read
    python benchmarks/answer_judge.py --cut                 # the answer-time cut against the labels' bad lines

Each label row holds the question, the answer as shown, its gold and cited refs, the hand label
and reason, and its split (``dev`` to tune the judge on, ``heldout`` to report). Writes
benchmarks/results/answer_judge[_model].json: agreement, Cohen's kappa overall and per label
(one label against the rest), precision/recall, the confusion matrix, and each answer's verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answer.contradictions import ContradictionCheck  # noqa: E402
from assistant.judge import LABELS, MODEL_FAILED, JudgeCase, ModelJudge, RuleJudge, split_answer, validate  # noqa: E402
from corpus import load_corpus  # noqa: E402


def key_points() -> dict[str, tuple[str, ...]]:
    """Question id -> key points, from every eval set."""
    found = {}
    for path in (ROOT / "eval").glob("*.jsonl"):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if "question" in row:
                    found.setdefault(row["id"], tuple(row.get("key_points", [])))
    return found


def section_texts(rows: list[dict]) -> dict[str, dict[str, str]]:
    """Corpus name -> section ref -> text, for the corpora the label rows name."""
    return {name: {s.ref: s.text for s in load_corpus(name).sections} for name in {r["corpus"] for r in rows}}


def cases(rows: list[dict]) -> list[JudgeCase]:
    """The judge's view of each labelled answer: its gold and other cited sections' text."""
    corpora = section_texts(rows)
    points = key_points()
    built = []
    for row in rows:
        texts = corpora[row["corpus"]]
        cited = [ref for ref in dict.fromkeys(row["cited"]) if ref not in row["gold"] and ref in texts]
        built.append(JudgeCase(row["question"], row["answer"], tuple(texts[ref] for ref in row["gold"]),
                               tuple(texts[ref] for ref in cited), points.get(row["id"].split(":", 1)[1], ())))
    return built


def cut_vs_labels(rows: list[dict]) -> dict:
    """The answer-time cut (``ContradictionCheck`` over each answer's gold and cited sections) on the
    labelled answers' own lines: of the answers labelled contradicts, those whose every contradicting
    line it cuts, some, or none; and the lines it cuts that the labels left standing."""
    corpora = section_texts(rows)
    tally = {"all_cut": 0, "some_cut": 0, "none_cut": 0, "collateral_lines": []}
    for row in rows:
        texts = corpora[row["corpus"]]
        said, _ = split_answer(row["answer"])
        sources = [texts[ref] for ref in dict.fromkeys(row["gold"] + row["cited"]) if ref in texts]
        cut = {conflict.line for conflict in ContradictionCheck(sources, row["question"]).reply(said)[1]}
        bad = {line["line"] for line in row["bad_lines"] if line["kind"] == "contradicts"}
        if row["label"] == "contradicts":
            found = len(bad & cut)
            tally["all_cut" if bad and found == len(bad) else "some_cut" if found else "none_cut"] += 1
        tally["collateral_lines"] += [f"{row['id']}: {line}" for line in sorted(cut - bad)]
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", default=str(ROOT / "eval" / "answer_labels.jsonl"))
    parser.add_argument("--split", choices=("dev", "heldout", "all"), default="all")
    parser.add_argument("--base-url", help="an OpenAI-compatible server whose model judges beside the rules")
    parser.add_argument("--model", default="bundled", help="the served model (default: the first it lists)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for the judge's reply (a 1.5B on 2 CPU cores reads a case in ~40 s)")
    parser.add_argument("--show", action="store_true", help="print each disagreement")
    parser.add_argument("--cut", action="store_true", help="score the answer-time cut against the labelled lines")
    parser.add_argument("--out", help="result JSON (default benchmarks/results/answer_judge[_model].json)")
    args = parser.parse_args()

    from index.lexical import ChineseTokenizer

    rules = RuleJudge(ChineseTokenizer())
    judge = rules
    if args.base_url:
        from assistant.llm.openai_backend import OpenAIChatModel
        from assistant.llm.settings import GenerationConfig

        judge = ModelJudge(OpenAIChatModel(GenerationConfig(backend="openai", base_url=args.base_url, model=args.model,
                                                            adapter="none", max_new_tokens=64,
                                                            timeout_s=args.timeout)), rules)
    rows = [json.loads(line) for line in Path(args.labels).read_text("utf-8").splitlines() if line.strip()]
    if args.cut:
        tally = cut_vs_labels(rows)
        print(f"contradicting answers: every bad line cut {tally['all_cut']}, some {tally['some_cut']}, "
              f"none {tally['none_cut']}; lines cut that the labels left standing: {len(tally['collateral_lines'])}")
        print("\n".join(tally["collateral_lines"]))
        return 0
    splits = ("dev", "heldout") if args.split == "all" else (args.split,)
    result = {"labels": args.labels, "judge": type(judge).__name__, "model": args.model if args.base_url else None}
    for split in splits:
        part = [r for r in rows if r["split"] == split]
        verdicts = [judge.judge(case) for case in cases(part)]
        agreement = validate([r["label"] for r in part], [v.label for v in verdicts])
        result[split] = asdict(agreement)
        result[split]["model_failed"] = sum(v.reason.startswith(MODEL_FAILED) for v in verdicts)
        result[split]["verdicts"] = [{"id": row["id"], "hand": row["label"], "judged": verdict.label,
                                      "reason": verdict.reason} for row, verdict in zip(part, verdicts)]
        failed = f"  (the model failed on {result[split]['model_failed']}: judged by the rules)" \
            if result[split]["model_failed"] else ""
        print(f"{split}: n={agreement.n}  agreement {agreement.accuracy:.3f}  kappa {agreement.kappa:.3f}{failed}")
        for label in LABELS:
            m = agreement.per_label.get(label)
            if m:
                print(f"  {label:12s} n={m['n']:3d}  kappa {m['kappa']:.3f}  precision {m['precision']}  recall {m['recall']}")
        if args.show:
            for row, verdict in zip(part, verdicts):
                if verdict.label != row["label"]:
                    print(f"\n{row['id']} hand={row['label']} judge={verdict.label} ({verdict.reason})\n"
                          f"  Q: {row['question']}\n  hand: {row['reason']}\n  "
                          + row["answer"].split("\n\n")[0].replace("\n", "\n  "))
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"answer_judge{'_model' if args.base_url else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), "utf-8")
    print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
