"""Drill grading against hand grades (0 = wrong, 1 = partial, 2 = good): eval/drill_graded.jsonl
(26 answers over 13 seed sections) or eval/drill_graded_collection.jsonl (answers over the
collection's sections, split into dev and held-out halves).

    python benchmarks/drill_grading.py                # rules + the model's check + its judgement (30 %)
                                                      # (with --base-url: rules + the served model's judgement)
    python benchmarks/drill_grading.py --no-judge     # rules + the bundled model's check (the default grading)
    python benchmarks/drill_grading.py --rules-only   # rules alone (drill without a model that scores texts)
    python benchmarks/drill_grading.py --no-judge --items eval/drill_graded_collection.jsonl --split heldout
    python benchmarks/drill_grading.py --base-url http://127.0.0.1:8000/v1 --judge-weight 0.5 \
        --items eval/drill_graded_collection.jsonl --split dev   # the judge on an OpenAI-compatible server

Each answer goes through ``DrillSession.submit``: graded by ``grade_answer`` (assistant/drill/grading.py:
on topic, not contradicting the notes, enough said), with the bundled model's reading of the answer
after the notes (``model_check``: how far the notes back it, subjects swapped) unless
``--rules-only``, mixed with the judge's grade when one runs. The score in [0, 1] is banded (< 1/3 -> 0, < 2/3 -> 1, else 2) and compared:
exact agreement, agreement within one grade, Spearman correlation of score and hand grade, and
median seconds per graded answer. Writes benchmarks/results/drill_grading[_nojudge].json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ranks(values: list[float]) -> list[float]:
    """Average ranks (ties share their mean rank)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default=str(REPO / "eval" / "drill_graded.jsonl"))
    parser.add_argument("--no-judge", action="store_true", help="without the LLM's 0/1/2 judgement")
    parser.add_argument("--rules-only", action="store_true", help="no model at all: rules alone (implies --no-judge)")
    parser.add_argument("--split", choices=["dev", "heldout"], help="only the items of this split")
    parser.add_argument("--judge-weight", type=float, default=0.3, help="the judge's share of the score")
    parser.add_argument("--base-url", help="judge with the model an OpenAI-compatible server serves")
    parser.add_argument("--model", default="bundled", help="the served model's name (with --base-url)")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    args.no_judge = args.no_judge or args.rules_only

    from assistant.config import Config
    from assistant.drill import DrillQuestion, DrillSession
    from assistant.drill.grading import grade_answer
    from assistant.drill.store import DrillStore
    from assistant.indexing import open_search_index

    items = [json.loads(line) for line in Path(args.items).read_text("utf-8").splitlines() if line.strip()]
    items = [item for item in items if args.split is None or item.get("split") == args.split]
    seed = "section_ref" not in items[0]  # the seed set names its sections by number alone
    config = Config().with_overrides(**{"corpus.path": "seed" if seed else None})
    if args.rules_only:
        index, generator = open_search_index(config, progress=False), None
    elif args.base_url:
        from assistant.llm import load_chat_model

        config = config.with_overrides(**{"llm.backend": "openai", "llm.base_url": args.base_url, "llm.model": args.model})
        index, generator = open_search_index(config, progress=False), load_chat_model(config.llm, config.data_path)
    else:
        from assistant import StudyAssistant

        assistant = StudyAssistant.from_settings(config, progress=False)
        index, generator = assistant.index, assistant.model
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = DrillStore.open(Path(tmp) / "drill.sqlite3")
        session = DrillSession(index, generator, store, "bench", judge_weight=0.0 if args.no_judge else args.judge_weight)
        for item in items:
            ref = f"ml_basics_qa#{item['section']}" if seed else item["section_ref"]
            section = index.sections[ref]
            session.key_points(ref)  # extracted once per section, as in use; not timed
            started = time.perf_counter()
            result = session.submit(DrillQuestion(ref, section.number, section.title), item["answer"])
            seconds = time.perf_counter() - started
            graded = grade_answer(item["answer"], section.title, section.text, session.key_points(ref), index)
            rows.append({"id": item["id"], "hand": item["grade"], "score": result.score, "grade": result.grade,
                         "rules_alone": round(graded.score, 3), "on_topic": graded.on_topic,
                         "substance": graded.substance, "support": result.support,
                         "contradiction": result.contradiction, "coverage": result.coverage, "judge": result.judge,
                         "seconds": round(seconds, 3)})
            print(f"{item['id']}: hand {item['grade']}  assistant {result.grade} (score {result.score:.2f}, on topic "
                  f"{graded.on_topic:.2f}, substance {graded.substance:.2f}, support {result.support}, judge {result.judge})"
                  + (f" {result.contradiction}" if result.contradiction else ""), flush=True)
        store.close()
    hand, grade = [r["hand"] for r in rows], [r["grade"] for r in rows]
    report = {
        "items": len(rows), "judge": None if args.no_judge else getattr(generator, "name", "bundled"),
        "model_check": bool(session.model_check),
        "judge_weight": 0.0 if args.no_judge else args.judge_weight, "file": args.items, "split": args.split,
        "exact_agreement": round(sum(h == g for h, g in zip(hand, grade)) / len(rows), 3),
        "within_one": round(sum(abs(h - g) <= 1 for h, g in zip(hand, grade)) / len(rows), 3),
        "spearman": round(spearman([r["score"] for r in rows], [float(h) for h in hand]), 3),
        "median_seconds": round(statistics.median(r["seconds"] for r in rows), 3),
        "per_item": rows,
    }
    print(f"exact agreement {report['exact_agreement']:.3f}, within one {report['within_one']:.3f}, "
          f"Spearman {report['spearman']:.3f}, median {report['median_seconds']} s per answer")
    name = "drill_grading" + ("" if seed else "_collection") + (f"_{args.split}" if args.split else "") \
        + ("_rules" if args.rules_only else "_nojudge" if args.no_judge else "_server" if args.base_url else "")
    out = Path(args.out or REPO / "benchmarks" / "results" / f"{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
