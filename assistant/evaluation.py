"""Offline evaluation: read a question set, score retrieval per question, aggregate.

Input is JSONL, one question a line (ARCHITECTURE.md):
``{"id", "question", "gold_sections": [7, "doc#3"], "key_points": [...], "type", "history"?,
"also_relevant"?: ["doc#9"]}``. An empty ``gold_sections`` marks a question the corpus does not
cover; such questions are left out of retrieval metrics (they are refusal cases).
``also_relevant`` names other sections that answer the question as well (the collection repeats
some questions in several files): retrieving one of them counts as a hit.

    >>> retrieval_metrics([["d#2", "d#7"], ["d#1"]], [("7",), ("5",)])
    {'hit@1': 0.0, 'hit@3': 0.5, 'hit@5': 0.5, 'mrr': 0.25, 'n': 2}
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from assistant.prompts import refusal_text

HIT_AT = (1, 3, 5)
JUDGED_RATES = {"correct": "correct_rate", "incomplete": "incomplete_rate", "wrong": "wrong_rate",
                "contradicts": "contradiction_rate", "off_topic": "off_topic_rate"}  # judge label -> metric


@dataclass(frozen=True)
class EvalQuestion:
    """One evaluation item."""

    id: str
    question: str
    gold_sections: tuple[str, ...]  # section numbers ("7") or refs ("doc#7"); empty = not covered
    key_points: tuple[str, ...]  # short phrases a good answer contains
    type: str  # e.g. "paraphrase_zh", "english", "multi_section", "out_of_corpus", "followup"
    history: tuple[dict, ...] = ()  # earlier turns for follow-up questions
    also_relevant: tuple[str, ...] = ()  # other sections that answer it as well (a hit, not required)

    @property
    def covered(self) -> bool:
        return bool(self.gold_sections)

    @property
    def relevant(self) -> tuple[str, ...]:
        """Sections whose retrieval counts as a hit: the gold ones and those also relevant."""
        return self.gold_sections + self.also_relevant


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Parse an eval JSONL file; errors name the file and line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Question file {path} does not exist.")
    questions = []
    seen = set()
    for line_no, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
            item = EvalQuestion(
                id=str(row["id"]),
                question=str(row["question"]),
                gold_sections=tuple(str(g) for g in row.get("gold_sections", [])),
                key_points=tuple(str(k) for k in row.get("key_points", [])),
                type=str(row.get("type", "unspecified")),
                history=tuple(row.get("history", [])),
                also_relevant=tuple(str(g) for g in row.get("also_relevant", [])),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{where}: not a valid question ({type(err).__name__}: {err})") from None
        if item.id in seen:
            raise ValueError(f"{where}: duplicate id {item.id!r}")
        seen.add(item.id)
        questions.append(item)
    if not questions:
        raise ValueError(f"{path} holds no questions.")
    return questions


def gold_matches(gold: str, section_ref: str) -> bool:
    """Whether a retrieved section is a gold one: "7" matches any document's question 7;
    "stem#7" matches question 7 of the document whose path ends in that stem.

    >>> gold_matches("7", "ml_basics_qa#7"), gold_matches("basics#7", "ml/basics#7"), gold_matches("7", "d#17")
    (True, True, False)
    """
    doc, _, number = section_ref.rpartition("#")
    if "#" not in gold:
        return number == gold
    gold_doc, _, gold_number = gold.rpartition("#")
    return number == gold_number and (doc == gold_doc or doc.endswith("/" + gold_doc))


def first_relevant_rank(refs: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based rank of the first retrieved ref that matches any gold section, else None."""
    for rank, ref in enumerate(refs, start=1):
        if any(gold_matches(g, ref) for g in gold):
            return rank
    return None


def retrieval_metrics(ranked_refs: Sequence[Sequence[str]], golds: Sequence[Sequence[str]]) -> dict:
    """hit@1/3/5 and MRR over questions (each a ranked list of section refs and its gold)."""
    return _rank_metrics([first_relevant_rank(refs, gold) for refs, gold in zip(ranked_refs, golds)])


def _rank_metrics(ranks: Sequence[int | None]) -> dict:
    """hit@1/3/5 and MRR from each question's first relevant rank (None: not retrieved)."""
    n = len(ranks)
    metrics = {f"hit@{k}": _mean([r is not None and r <= k for r in ranks]) for k in HIT_AT}
    metrics["mrr"] = _mean([1.0 / r if r else 0.0 for r in ranks])
    metrics["n"] = n
    return metrics


def evaluate_retrieval(
    questions: Sequence[EvalQuestion],
    retrieve: Callable[[EvalQuestion], list[str]],
    progress: bool = True,
) -> tuple[dict, list[dict]]:
    """Run ``retrieve`` (question -> ranked section refs) on covered questions.

    Returns overall metrics with a ``by_type`` breakdown, and one record per question.
    """
    records = []
    for item in tqdm(questions, desc="Retrieval eval", unit="q", disable=not progress):
        record = {"id": item.id, "type": item.type, "question": item.question, "gold": list(item.gold_sections),
                  "folder": top_folder(item.gold_sections)}
        if item.also_relevant:
            record["also_relevant"] = list(item.also_relevant)
        if item.covered:
            refs = retrieve(item)
            record["retrieved"] = refs
            record["first_relevant_rank"] = first_relevant_rank(refs, item.relevant)
        records.append(record)
    scored = [r for r in records if "retrieved" in r]
    metrics = _rank_metrics([r["first_relevant_rank"] for r in scored])
    for key, field in (("by_type", "type"), ("by_folder", "folder")):
        groups = defaultdict(list)
        for r in scored:
            groups[r[field]].append(r["first_relevant_rank"])
        metrics[key] = {name: _rank_metrics(ranks) for name, ranks in sorted(groups.items())}
    return metrics, records


def evaluate_gate(questions: Sequence[EvalQuestion], gate: Callable[[EvalQuestion], "object"],
                  records: list[dict] | None = None, progress: bool = True) -> dict:
    """Run ``gate`` (question -> ``Gate``, the check before the model) on every question: the share
    of out-of-corpus questions it refuses (accuracy) and of covered ones (false_refusal_rate),
    overall and by type. The model's own refusals come on top of these (``evaluate_answers``).
    Each record of ``records`` (same order as ``questions``) gains the gate's verdict."""
    verdicts = []
    for i, item in enumerate(tqdm(questions, desc="Gate eval", unit="q", disable=not progress)):
        result = gate(item)
        verdicts.append((item, not result.passed))
        if records is not None:
            records[i].update(gate_refused=not result.passed, gate_unknown=list(result.unknown),
                              gate_confidence=round(result.confidence, 4), gate_coverage=round(result.coverage, 4))
    uncovered = [refused for item, refused in verdicts if not item.covered]
    covered = [refused for item, refused in verdicts if item.covered]
    by_type = defaultdict(list)
    for item, refused in verdicts:
        by_type[item.type].append(refused)
    return {"accuracy": _mean(uncovered), "false_refusal_rate": _mean(covered), "n": len(uncovered),
            "n_covered": len(covered), "refused_by_type": {t: _mean(v) for t, v in sorted(by_type.items())}}


def top_folder(refs: Sequence[str]) -> str:
    """The top folder of a question's first gold section ("深度学习基础/x#3" -> "深度学习基础"),
    "(top level)" for a file at the corpus root, "(not covered)" without gold.

    >>> top_folder(["深度学习基础/x#3"]), top_folder(["ml_basics_qa#8"]), top_folder([])
    ('深度学习基础', '(top level)', '(not covered)')
    """
    if not refs:
        return "(not covered)"
    path = refs[0].rpartition("#")[0]
    return path.split("/")[0] if "/" in path else "(top level)"


def _mean(values) -> float:
    values = [float(v) for v in values]
    return round(sum(values) / len(values), 4) if values else 0.0


def _is_refusal(reply: str) -> bool:
    return refusal_text("zh") in reply or refusal_text("en") in reply


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def key_point_recall(text: str, key_points: Sequence[str]) -> float:
    """Share of key points found in the answer text, case-insensitively: ("含L1", ["l1", "L2"]) -> 0.5."""
    if not key_points:
        return 0.0
    lowered = text.lower()
    return sum(point.lower() in lowered for point in key_points) / len(key_points)


def evaluate_answers(
    questions: Sequence[EvalQuestion],
    ask: Callable[[EvalQuestion], "object"],
    progress: bool = True,
    judge: Callable[[EvalQuestion, "object"], "object"] | None = None,
) -> tuple[dict, dict, list[dict]]:
    """Run ``ask`` (question -> Answer) on every question; score answers and refusals.

    Returns (answer metrics, refusal metrics, per-question records). Answer metrics are over
    covered questions: key_point_recall (mean), draft_key_point_recall (of the model's own reply),
    draft_refusal_rate (of those the model was asked, the share it answered with the refusal
    sentence), citation_precision (cited sections that are gold, over all citations of answers
    that were not refusals), median_chars, first_words_median_s (seconds until an answer's first
    words were shown, median over the answered questions that reached the model),
    model_first_token_median_s (until the model's first piece, over the same answers); with a
    ``judge`` ((question, Answer) -> ``Verdict``, ``judge_answers``), correct_rate,
    incomplete_rate, wrong_rate, contradiction_rate and off_topic_rate: shares of covered
    questions whose answer got that label (a refused one gets none); withheld_rate: share of
    answered covered questions with a line cut at answer time for contradicting its source;
    unsupported_rate: share with a line cut for the model's own words (``answer.synthesis =
    "copies"``). Refusal metrics: accuracy (refused out-of-corpus questions), false_refusal_rate
    (refused covered questions).
    """
    records = []
    for item in tqdm(questions, desc="Answer eval", unit="q", disable=not progress):
        answer = ask(item)
        cited = [c["ref"] for c in answer.citations]
        records.append({
            "id": item.id, "type": item.type, "question": item.question, "gold": list(item.gold_sections),
            "answer": answer.text, "refused": answer.refused, "cited": cited,
            "cited_gold": sum(any(gold_matches(g, ref) for g in item.relevant) for ref in cited),
            "key_point_recall": key_point_recall(answer.text, item.key_points) if item.covered else None,
            "draft_key_point_recall": key_point_recall(answer.draft, item.key_points) if item.covered else None,
            "chars": len(answer.text), "timings": answer.timings,
            "retrieved": [hit.section_ref for hit in answer.sources],
            "dropped_citations": answer.dropped_citations,
            "confidence": answer.confidence, "grounding": answer.grounding, "draft": answer.draft,
            "withheld": getattr(answer, "withheld", []), "unsupported": getattr(answer, "unsupported", []),
        })
        if judge and item.covered and not answer.refused:
            verdict = judge(item, answer)
            records[-1].update(judged=verdict.label, judge_reason=verdict.reason, judged_lines=list(verdict.lines))
    covered = [r for r in records if r["gold"]]
    uncovered = [r for r in records if not r["gold"]]
    answered = [r for r in covered if not r["refused"]]
    n_citations = sum(len(r["cited"]) for r in answered)
    answer_metrics = {
        "key_point_recall": _mean([r["key_point_recall"] for r in covered]),
        # the model's own reply alone, before the checks and without the quotes: what an adapter changes
        "draft_key_point_recall": _mean([r["draft_key_point_recall"] for r in covered]),
        # covered questions the model was asked and answered with the refusal sentence (the answer
        # may still stand on its quotes): an adapter that over-refuses shows here first
        "draft_refusal_rate": _mean([_is_refusal(r["draft"]) for r in covered if r["draft"]]),
        "citation_precision": round(sum(r["cited_gold"] for r in answered) / n_citations, 4) if n_citations else 0.0,
        "median_chars": statistics.median([r["chars"] for r in covered]) if covered else 0,
        # seconds until the first words were shown, over the answers the model was asked for
        "first_words_median_s": _median([r["timings"].get("first_token") for r in records
                                         if "model_first_token" in r["timings"] and not r["refused"]]),
        # and until the model's first piece (the notes' key sentences may have been shown before it)
        "model_first_token_median_s": _median([r["timings"].get("model_first_token") for r in records
                                               if "model_first_token" in r["timings"] and not r["refused"]]),
        "n": len(covered),
    }
    if judge:
        for label, name in JUDGED_RATES.items():
            answer_metrics[name] = _mean([r.get("judged") == label for r in covered])
        answer_metrics["withheld_rate"] = _mean([bool(r["withheld"]) for r in answered])
        answer_metrics["unsupported_rate"] = _mean([bool(r["unsupported"]) for r in answered])
    refusal_metrics = {
        "accuracy": _mean([r["refused"] for r in uncovered]),
        "false_refusal_rate": _mean([r["refused"] for r in covered]),
        "n": len(uncovered),
    }
    return answer_metrics, refusal_metrics, records


def judge_answers(judge, sections: dict) -> Callable[[EvalQuestion, "object"], "object"]:
    """``evaluate_answers``' judge: (question, Answer) -> ``judge.judge`` of a ``JudgeCase`` whose
    notes are the question's gold sections (from ``sections``, ref -> Section) and whose other notes
    are the sections the answer cites besides them."""
    from assistant.judge import JudgeCase

    def run(item: EvalQuestion, answer) -> "object":
        gold = [ref for ref in sections if any(gold_matches(g, ref) for g in item.gold_sections)]
        cited = [c["ref"] for c in answer.citations if c["ref"] not in gold and c["ref"] in sections]
        case = JudgeCase(item.question, answer.text, tuple(sections[ref].text for ref in gold),
                         tuple(sections[ref].text for ref in cited), item.key_points)
        return judge.judge(case)

    return run
