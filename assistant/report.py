"""Write an eval report as JSON, with a Markdown summary and a PNG chart beside it.

``write_report(report, "out/report.json")`` writes ``report.json``, ``report.md`` and
``report.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

_RETRIEVAL_KEYS = ("hit@1", "hit@3", "hit@5", "mrr")


def write_report(report: dict, out: str | Path) -> list[Path]:
    """Write the three files; returns their paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    markdown = out.with_suffix(".md")
    markdown.write_text(summary_markdown(report), "utf-8")
    chart = out.with_suffix(".png")
    _plot(report, chart)
    return [out, markdown, chart]


def summary_markdown(report: dict) -> str:
    """A readable summary: overall metrics, then a per-type table."""
    lines = ["# Evaluation report", ""]
    config = report.get("config", {})
    if config:
        lines += [f"- questions: `{config.get('questions')}`", f"- corpus: `{config.get('corpus')}`", ""]
    retrieval = report.get("retrieval")
    if retrieval:
        lines += ["## Retrieval (section level)", "", "| type | n | " + " | ".join(_RETRIEVAL_KEYS) + " |"]
        lines.append("|---" * (len(_RETRIEVAL_KEYS) + 2) + "|")
        rows = [("all", retrieval)] + list(retrieval.get("by_type", {}).items())
        for name, m in rows:
            lines.append(f"| {name} | {m['n']} | " + " | ".join(f"{m[k]:.3f}" for k in _RETRIEVAL_KEYS) + " |")
        lines.append("")
        folders = retrieval.get("by_folder", {})
        if len(folders) > 1:
            lines += ["### By top folder of the gold section", "",
                      "| folder | n | " + " | ".join(_RETRIEVAL_KEYS) + " |", "|---" * (len(_RETRIEVAL_KEYS) + 2) + "|"]
            for name, m in folders.items():
                lines.append(f"| {name} | {m['n']} | " + " | ".join(f"{m[k]:.3f}" for k in _RETRIEVAL_KEYS) + " |")
            lines.append("")
        misses = [q for q in report.get("per_question", []) if q.get("first_relevant_rank", 1) != 1]
        if misses:
            lines += ["### Questions whose first hit is not gold", ""]
            for q in misses:
                lines.append(f"- `{q['id']}` {q['question']} — gold {q['gold']}, got {q['retrieved'][:3]}")
            lines.append("")
    gate = report.get("gate")
    if gate:
        lines += ["## Refused before the model (the gate)", "",
                  f"{gate['accuracy']:.3f} of {gate['n']} out-of-corpus questions, "
                  f"{gate['false_refusal_rate']:.3f} of {gate['n_covered']} covered ones.", "",
                  "| type | refused |", "|---|---|"]
        lines += [f"| {name} | {share:.3f} |" for name, share in gate.get("refused_by_type", {}).items()]
        lines.append("")
    answer, refusal = report.get("answer"), report.get("refusal")
    if answer and refusal:
        lines += [
            "## Answers", "",
            "| key-point recall | … of the model's reply alone | model's reply refused | citation precision "
            "| median chars | first words, median s | model's first token, median s | n | refusal accuracy "
            "| false refusals | n out-of-corpus |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {answer['key_point_recall']:.3f} | {answer.get('draft_key_point_recall', float('nan')):.3f} "
            f"| {answer.get('draft_refusal_rate', float('nan')):.3f} "
            f"| {answer['citation_precision']:.3f} | {answer['median_chars']} | {answer.get('first_words_median_s')} "
            f"| {answer.get('model_first_token_median_s')} | {answer['n']} | {refusal['accuracy']:.3f} | {refusal['false_refusal_rate']:.3f} | {refusal['n']} |",
            "",
        ]
        if "correct_rate" in answer:
            lines += _judged(answer, report.get("per_question", []))
    return "\n".join(lines)


def _judged(answer: dict, records: list[dict]) -> list[str]:
    """The judge's rates, then each contradicting line it found and each line withheld at answer time."""
    lines = ["### Judged (covered questions; a refused one counts in none)", "",
             "| correct | incomplete | wrong | contradicts | off-topic | a line withheld |", "|---|---|---|---|---|---|",
             f"| {answer['correct_rate']:.3f} | {answer['incomplete_rate']:.3f} | {answer['wrong_rate']:.3f} "
             f"| {answer['contradiction_rate']:.3f} | {answer['off_topic_rate']:.3f} | {answer['withheld_rate']:.3f} |", ""]
    flagged = [(r["id"], line) for r in records for line in r.get("judged_lines", [])]
    if flagged:
        lines += ["### Lines that contradict the notes", ""]
        lines += [f"- `{qid}` {line['line'].strip()} — {line['why']}" for qid, line in flagged]
        lines.append("")
    withheld = [(r["id"], line) for r in records for line in r.get("withheld", [])]
    if withheld:
        lines += ["### Lines withheld at answer time (they contradicted a source)", ""]
        lines += [f"- `{qid}` {line['line'].strip()} — {line['why']}" for qid, line in withheld]
        lines.append("")
    return lines


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    retrieval = report.get("retrieval", {})
    groups = [("all", retrieval)] + list(retrieval.get("by_type", {}).items())
    answer, refusal = report.get("answer"), report.get("refusal")
    fig, axes = plt.subplots(1, 2 if answer else 1, figsize=(max(6, 1.6 * len(groups)) + (4 if answer else 0), 3.6),
                             squeeze=False, gridspec_kw={"width_ratios": [len(groups), 2]} if answer else None)
    ax = axes[0][0]
    width = 0.8 / len(_RETRIEVAL_KEYS)
    for j, key in enumerate(_RETRIEVAL_KEYS):
        xs = [i + j * width for i in range(len(groups))]
        ax.bar(xs, [m.get(key, 0) for _, m in groups], width, label=key)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{name}\n(n={m.get('n', 0)})" for name, m in groups], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("Retrieval, section level")
    ax.legend(fontsize=8, ncol=len(_RETRIEVAL_KEYS), loc="lower right")
    if answer:
        names = ["key points", "citation\nprecision", "refusal\naccuracy", "false\nrefusals"]
        values = [answer["key_point_recall"], answer["citation_precision"], refusal["accuracy"],
                  refusal["false_refusal_rate"]]
        axes[0][1].bar(names, values, color=["C0", "C1", "C2", "C3"])
        axes[0][1].set_ylim(0, 1.05)
        axes[0][1].set_title("Answers")
        axes[0][1].tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
