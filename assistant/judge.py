"""Is an answer right? Label it as a reader would: correct, incomplete, wrong, contradicts, off_topic.

Two judges share one contract, ``judge(case) -> Verdict``:

- ``RuleJudge`` (deterministic, offline, the eval's default): a line that changes what the notes
  say (``ContradictionCheck`` against the gold and cited sections) -> contradicts; an answer whose
  terms mostly are not the gold section's -> off_topic; too few of the question's key points ->
  incomplete; else correct. It cannot see a false claim the notes never address ("wrong").
- ``ModelJudge``: a stronger model (any ``ChatModel``, e.g. a 7B served by vLLM) reads the notes
  and the answer and gives the label; the rule judge's contradictions still stand.

    >>> from index.lexical import ChineseTokenizer
    >>> case = JudgeCase("L1为什么稀疏？", "L1正则使得训练过程稳定平滑,但是没有产生稀疏性。 [1]",
    ...                  notes=("L2正则使得训练过程稳定平滑,但是没有产生稀疏性。L1正则产生稀疏解。",))
    >>> RuleJudge(ChineseTokenizer()).judge(case).label
    'contradicts'

``validate`` compares verdicts with hand labels (agreement, Cohen's kappa overall and per label).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

from assistant.answer.contradictions import ContradictionCheck
from assistant.answer.quotes import QUOTES_HEADING, SYNTHESIS_HEADING
from assistant.citations import strip_citations
from assistant.llm.errors import BackendError
from assistant.text import question_language

LABELS = ("correct", "incomplete", "wrong", "contradicts", "off_topic")
MODEL_FAILED = "the judge model failed"  # how a verdict the rules gave in the model's place begins
log = logging.getLogger(__name__)
QUOTES = re.compile(r"(?:^|\n)\s*(" + "|".join(map(re.escape, QUOTES_HEADING.values())) + r")\s*\n")


@dataclass(frozen=True)
class JudgeCase:
    """What a judge reads: the question, the answer as shown, the notes that answer it."""

    question: str
    answer: str  # the answer as shown: the model's lines and the quoted sentences, in either order
    notes: tuple[str, ...]  # the gold sections' text
    cited_notes: tuple[str, ...] = ()  # other sections the answer cites
    key_points: tuple[str, ...] = ()  # short phrases a good answer contains (from the eval set)


@dataclass(frozen=True)
class Verdict:
    """A judge's label with its reason, and the lines that earned it."""

    label: str  # one of LABELS
    reason: str
    lines: tuple[dict, ...] = ()  # {"line", "kind", "why"}: contradicting (or wrong) lines


@dataclass
class RuleJudgeConfig:
    """The rule judge's thresholds (chosen on the dev half of ``eval/answer_labels.jsonl``; over
    min_relevance 0.25-0.55 and min_key_points 0.34-1.0 its kappa there moves only between 0.58
    and 0.62: the rules' ceiling, not their knobs, is what keeps it under 0.7)."""

    min_relevance: float = 0.35  # share of the answer's terms found in the gold notes; below it: off_topic
    min_key_points: float = 0.5  # share of the question's key points the answer holds; below it: incomplete

    def __post_init__(self):
        for name in ("min_relevance", "min_key_points"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} should be in [0, 1], got {value}")


def split_answer(answer: str) -> tuple[str, str]:
    """(the model's lines, the quoted sentences) of an answer as shown, the quotes under the
    synthesis or (``notes_first``) above it."""
    for heading in SYNTHESIS_HEADING.values():
        if f"\n\n{heading}\n" in answer:
            quoted, said = answer.split(f"\n\n{heading}\n", 1)
            parts = QUOTES.split(said, maxsplit=1)  # [said, heading, the quotes of another source under it]
            said = parts[0]
            quotes = "\n".join([QUOTES.split(quoted, maxsplit=1)[-1].strip(), *parts[2:]])
            return said.strip(), quotes.strip()
    parts = QUOTES.split(answer, maxsplit=1)
    return parts[0].strip(), (parts[2].strip() if len(parts) > 2 else "")


class RuleJudge:
    """The deterministic judge; ``tokenizer`` is the index's (``ChineseTokenizer``)."""

    def __init__(self, tokenizer, config: RuleJudgeConfig | None = None):
        self.tokenizer = tokenizer
        self.config = config or RuleJudgeConfig()

    def judge(self, case: JudgeCase) -> Verdict:
        said, quotes = split_answer(case.answer)
        conflicts = ContradictionCheck([*case.notes, *case.cited_notes], case.question).lines(said)
        if conflicts:
            lines = tuple({"line": c.line, "kind": "contradicts", "why": c.describe()} for c in conflicts)
            return Verdict("contradicts", conflicts[0].describe(), lines)
        relevance = self.relevance(case)
        if relevance < self.config.min_relevance:
            return Verdict("off_topic", f"{relevance:.0%} of its terms are in the gold notes")
        recall = key_point_share(case.answer, case.key_points)
        if recall is not None and recall < self.config.min_key_points:
            return Verdict("incomplete", f"{recall:.0%} of the key points")
        return Verdict("correct", "on topic, nothing contradicts the notes"
                       + (f", {recall:.0%} of the key points" if recall is not None else ""))

    def relevance(self, case: JudgeCase) -> float:
        """Share of the answer's terms that occur in the gold notes (1.0 for an answer without terms).
        An English line counts by the glossary phrases it uses, each found when one of the corpus
        terms it translates to is in the notes; its other words cannot be checked."""
        tokenize = self.tokenizer.tokenize
        notes = set(tokenize("\n".join(case.notes)))
        found = []
        for line in strip_citations(case.answer, " ").splitlines():
            if question_language(line) == "en":
                found += [bool(set(terms) & notes) for _, terms in self.tokenizer.glossary_terms(line)]
            else:
                found += [term in notes for term in set(tokenize(line))]
        return sum(found) / len(found) if found else 1.0


class ModelJudge:
    """A model reads the notes and the answer and labels it (``assistant/data/judge_prompt.txt``);
    a contradiction the rule judge finds stands, and an unreadable reply falls back to the rules."""

    def __init__(self, model, rules: RuleJudge, note_chars: int = 1500):
        self.model, self.rules, self.note_chars = model, rules, note_chars
        self.prompt = (resources.files("assistant") / "data" / "judge_prompt.txt").read_text("utf-8")

    def judge(self, case: JudgeCase) -> Verdict:
        from assistant.llm.base import GenerationOptions

        ruled = self.rules.judge(case)
        if ruled.label == "contradicts":
            return ruled
        notes = "\n\n".join(case.notes)[: self.note_chars]
        content = self.prompt.format(question=case.question, notes=notes, answer=case.answer)
        try:
            reply = "".join(self.model.stream([{"role": "user", "content": content}], GenerationOptions(temperature=0.0)))
        except BackendError as err:  # one failed request: this answer is judged by the rules, the run goes on
            log.warning("The judge model failed, the rules judge this answer: %s", err)
            return Verdict(ruled.label, f"{MODEL_FAILED}: {err}; rules: {ruled.reason}", ruled.lines)
        label = parse_label(reply)
        if label is None:
            return ruled
        reason = reply.strip().splitlines()[-1][:200] if reply.strip() else ""
        return Verdict(label, f"model: {reason}")


def parse_label(reply: str) -> str | None:
    """The first label a judge's reply names: ``"LABEL: off_topic\\nbecause…" -> "off_topic"``."""
    found = re.search(r"\b(correct|incomplete|wrong|contradicts|off[_ -]topic)\b", reply.lower())
    return found.group(1).replace(" ", "_").replace("-", "_") if found else None


def key_point_share(text: str, key_points: Sequence[str]) -> float | None:
    """Share of ``key_points`` in ``text`` (case-insensitive), None without key points."""
    if not key_points:
        return None
    lowered = text.lower()
    return sum(point.lower() in lowered for point in key_points) / len(key_points)


@dataclass
class Agreement:
    """How a judge's labels agree with hand labels."""

    n: int
    accuracy: float
    kappa: float  # Cohen's kappa over all labels
    per_label: dict = field(default_factory=dict)  # label -> {"kappa", "precision", "recall", "n"} (one vs the rest)
    confusion: dict = field(default_factory=dict)  # hand label -> {judge label: count}


def validate(hand: Sequence[str], judged: Sequence[str]) -> Agreement:
    """Agreement of ``judged`` with ``hand`` labels: accuracy, Cohen's kappa, and per label the
    kappa of "this label or not" with its precision and recall.

    >>> validate(["correct", "wrong", "correct", "off_topic"], ["correct", "wrong", "off_topic", "off_topic"]).kappa
    0.6364
    """
    if len(hand) != len(judged) or not hand:
        raise ValueError(f"need as many judged labels as hand labels (got {len(judged)} and {len(hand)}), at least one")
    n = len(hand)
    per_label = {}
    for label in LABELS:
        a = [h == label for h in hand]
        b = [j == label for j in judged]
        if not any(a) and not any(b):
            continue
        true_pos = sum(x and y for x, y in zip(a, b))
        per_label[label] = {"kappa": cohen_kappa(a, b), "n": sum(a),
                            "precision": round(true_pos / sum(b), 4) if any(b) else None,
                            "recall": round(true_pos / sum(a), 4) if any(a) else None}
    confusion = {h: dict(Counter(j for hh, j in zip(hand, judged) if hh == h)) for h in LABELS if h in hand}
    accuracy = round(sum(h == j for h, j in zip(hand, judged)) / n, 4)
    return Agreement(n, accuracy, cohen_kappa(hand, judged), per_label, confusion)


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa of two raters' labels: (agreement - chance) / (1 - chance); 1.0 when both
    always give the one same label."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    count_a, count_b = Counter(a), Counter(b)
    chance = sum(count_a[label] * count_b[label] for label in count_a) / (n * n)
    return 1.0 if chance == 1 else round((observed - chance) / (1 - chance), 4)
