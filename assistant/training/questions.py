"""The questions the adapter is trained on, written from the corpus (never from the eval sets).

Per section: its own question, template variants, synonym swaps and questions about its
sub-headings; for the bundled notes, learners' questions in everyday words
(``assistant/data/lora_train_questions.jsonl``) and English questions with answers translated from
the notes (``lora_train_answers_en.jsonl``); two sections asked in one; second turns of a
conversation; and questions the notes do not cover (``lora_refusal_questions.txt``).

    >>> overlapping(["L1正则为什么稀疏？"], ["L1正则为什么稀疏呢？", "什么是鞍点？"])
    [('L1正则为什么稀疏？', 'L1正则为什么稀疏呢？')]
"""

from __future__ import annotations

import json
import random
import re
from typing import NamedTuple

from index import SearchIndex

from assistant.prompts import prompt_text
from assistant.text import letters, name_pattern

TEMPLATES = (  # {q}: the section's question without its final question mark
    "{q}？",
    "面试中被问到“{q}”，应该怎么回答？",
    "请用两三句话说明：{q}？",
    "复习一下：{q}？",
)
HEADING_TEMPLATES = ("{title}里，{heading}是怎么回事？", "请讲讲{heading}。")
PAIR_TEMPLATES = ("{q1}？另外，{q2}？", "想请教两个问题：{q1}？{q2}？", "{q1}？还有，{q2}？")
# second turns of a conversation: about a sub-heading of the section just discussed, or another section
FOLLOW_UP_TEMPLATES = ("那{heading}呢？", "能再讲讲{heading}吗？")
NEXT_TOPIC_TEMPLATES = ("那{q}？", "还有，{q}？")
SYNONYMS = (  # corpus term -> how learners also say it (from index/data/query_expansions.tsv, reversed)
    ("类别不平衡", "正负样本比例悬殊"), ("过拟合", "过度拟合"), ("欠拟合", "拟合不足"),
    ("哈达玛积", "按位相乘"), ("鞍点", "驻点"), ("Dropout", "随机失活"), ("先验知识", "领域知识"),
    ("阈值", "门限"), ("EDA", "探索性分析"),
)


SAMPLED_SECTIONS = 50  # train-lora asks about this many sections of a larger corpus by default: on the
# collection, about 180 examples of about 900 tokens, about 8 s each a pass on 2 AVX2 cores in float32


class TrainingQuestion(NamedTuple):
    question: str
    kind: str  # "section" | "variant" | "synonym" | "heading" | "learner" | "english" | "pair" | "followup"
    section_ref: str
    answer: tuple[str, ...] = ()  # an "english" question: its written answer points
    also: str | None = None  # a "pair" question: the second section it asks about
    after: str | None = None  # a "followup" question: the section the conversation's first turn asked about


def training_questions(index: SearchIndex, refs: list[str] | None = None) -> list[TrainingQuestion]:
    """Every covered training question about the index's sections, variants included; with
    ``refs`` (a sample of a large corpus, ``sample_sections``), a lighter set about those sections
    only: each one's question, one template variant, a question about its first sub-heading below
    its own heading (if it has one), one pair and one second turn, so that the examples span many
    sections within a CPU's training budget."""
    every = refs is None
    refs = list(index.sections) if every else list(refs)
    questions = []
    for n, ref in enumerate(refs):
        base = index.sections[ref].title.strip().rstrip("?？ ")
        questions.append(TrainingQuestion(f"{base}？", "section", ref))
        templates = TEMPLATES[1:] if every else [TEMPLATES[1 + n % (len(TEMPLATES) - 1)]]
        questions += [TrainingQuestion(t.format(q=base), "variant", ref) for t in templates]
        for term, synonym in SYNONYMS:
            if term in base:
                questions.append(TrainingQuestion(f"{base.replace(term, synonym, 1)}？", "synonym", ref))
        headings = [h for h in dict.fromkeys(_heading(c.heading) for c in index.chunks if c.section_ref == ref)
                    if len(h) >= 3]
        for i, heading in enumerate(headings if every else headings[1:2]):
            template = HEADING_TEMPLATES[(i if every else n) % len(HEADING_TEMPLATES)]
            questions.append(TrainingQuestion(template.format(title=base, heading=heading), "heading", ref))
    chosen = set(refs)
    questions += [TrainingQuestion(q, "learner", ref) for q, ref in learner_questions() if ref in chosen]
    questions += [TrainingQuestion(q, "english", ref, answer=points)
                  for q, ref, points in english_answers() if ref in chosen]
    if every:
        return questions + pair_questions(index) + follow_up_questions(index)
    return questions + pair_questions(index, per_section=1, refs=refs) + follow_up_questions(index, refs=refs, both=False)


def sample_sections(index: SearchIndex, n: int, avoid: set[str] = frozenset(), seed: int = 0) -> list[str]:
    """``n`` section refs spread over the corpus's files: files in turn (each file's sections in a
    seeded random order), none of ``avoid`` (an evaluation set's gold sections, so its measured
    lift is on sections the adapter never saw); every allowed section when there are fewer."""
    rng = random.Random(seed)
    by_doc: dict[str, list[str]] = {}
    for ref, section in index.sections.items():
        if ref not in avoid:
            by_doc.setdefault(section.doc, []).append(ref)
    queues = [rng.sample(refs, len(refs)) for _, refs in sorted(by_doc.items())]
    rng.shuffle(queues)
    chosen: list[str] = []
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    return chosen


def follow_up_questions(index: SearchIndex, seed: int = 0, refs: list[str] | None = None,
                        both: bool = True) -> list[TrainingQuestion]:
    """Second turns, after the section question of the first: for each section (of ``refs``, all
    by default), one about a sub-heading of it ("那{heading}呢？") and one about another section,
    partner drawn at random ("那{q}？"), so that the adapter learns to answer the new question
    from its sources in a conversation instead of repeating or refusing; ``both=False``: one of
    the two, in turn."""
    refs = list(index.sections) if refs is None else list(refs)
    rng = random.Random(seed)
    questions = []
    for i, ref in enumerate(refs):
        headings = [h for h in dict.fromkeys(_heading(c.heading).rstrip(":： ") for c in index.chunks
                                             if c.section_ref == ref) if len(h) >= 3]
        if headings and (both or i % 2 == 0):
            template = FOLLOW_UP_TEMPLATES[i % len(FOLLOW_UP_TEMPLATES)]
            questions.append(TrainingQuestion(template.format(heading=rng.choice(headings)), "followup", ref, after=ref))
            if not both:
                continue
        other = rng.choice([r for r in refs if r != ref]) if len(refs) > 1 else None
        if other:
            title = index.sections[other].title.strip().rstrip("?？ ")
            template = NEXT_TOPIC_TEMPLATES[i % len(NEXT_TOPIC_TEMPLATES)]
            questions.append(TrainingQuestion(template.format(q=title), "followup", other, after=ref))
    return questions


def pair_questions(index: SearchIndex, per_section: int = 2, seed: int = 0,
                   refs: list[str] | None = None) -> list[TrainingQuestion]:
    """Two section questions asked in one ("{q1}？另外，{q2}？"), about ``per_section`` a section
    (of ``refs``, all by default), partners drawn at random among them: the answer draws from and
    cites both sources."""
    refs = list(index.sections) if refs is None else list(refs)
    rng = random.Random(seed)
    questions = []
    for i, ref in enumerate(refs):
        for j, other in enumerate(rng.sample([r for r in refs if r != ref], min(per_section, len(refs) - 1))):
            first, second = (index.sections[r].title.strip().rstrip("?？ ") for r in (ref, other))
            template = PAIR_TEMPLATES[(i + j) % len(PAIR_TEMPLATES)]
            questions.append(TrainingQuestion(template.format(q1=first, q2=second), "pair", ref, also=other))
    return questions


def learner_questions() -> list[tuple[str, str]]:
    """(question, section ref) pairs in a learner's own words about the bundled notes, so that
    the adapter does not learn that a question phrased like a title is answered and any other
    is refused (``assistant/data/lora_train_questions.jsonl``, written from the notes alone)."""
    rows = (json.loads(line) for line in prompt_text("lora_train_questions.jsonl").splitlines() if line.strip())
    return [(row["question"], row["section"]) for row in rows]


def english_answers() -> list[tuple[str, str, tuple[str, ...]]]:
    """(question, section ref, answer points) in English about the bundled notes, the answers
    translated from the section's own text (``assistant/data/lora_train_answers_en.jsonl``), so
    the adapter answers English questions in English instead of learning that they are refused."""
    rows = (json.loads(line) for line in prompt_text("lora_train_answers_en.jsonl").splitlines() if line.strip())
    return [(row["question"], row["section"], tuple(row["answer"])) for row in rows]


def refusal_questions(index: SearchIndex | None = None) -> list[str]:
    """The packaged out-of-corpus training questions (``assistant/data/lora_refusal_questions.txt``);
    with ``index``, those none of whose subject terms its corpus prints (``uncovered``)."""
    rows = [line.split("\t") for line in prompt_text("lora_refusal_questions.txt").splitlines()
            if line.strip() and not line.startswith("#")]
    if index is not None:
        text = "\n".join(f"{s.heading_text}\n{s.text}" for s in index.sections.values())
        rows = [row for row in rows if uncovered(row[1].split("|") if len(row) > 1 else [], text)]
    return [row[0].strip() for row in rows]


def uncovered(terms: list[str], text: str) -> bool:
    """Whether ``text`` prints none of ``terms`` (``name_pattern``: any case, a Latin term as a whole word).

    >>> uncovered(["ROC", "AUC"], "the process"), uncovered(["ROC"], "ROC曲线"), uncovered(["考研"], "考研数学")
    (True, False, False)
    """
    return not any(name_pattern(term).search(text) for term in terms)


def overlapping(train: list[str], held_out: list[str], threshold: float = 0.6) -> list[tuple[str, str]]:
    """Pairs (training, held-out) that are the same question: equal once normalised, or sharing
    at least ``threshold`` of their character trigrams (Jaccard)."""
    grams = [(letters(q), _trigrams(q)) for q in held_out]
    pairs = []
    for question in train:
        norm, tri = letters(question), _trigrams(question)
        for other, (other_norm, other_tri) in zip(held_out, grams):
            union = tri | other_tri
            if norm == other_norm or (union and len(tri & other_tri) / len(union) >= threshold):
                pairs.append((question, other))
    return pairs


def _trigrams(text: str) -> set[str]:
    norm = letters(text)
    return {norm[i:i + 3] for i in range(len(norm) - 2)} or {norm}


def _heading(heading: str) -> str:
    """``"#### 7. 通过贝叶斯学习引入先验知识" -> "通过贝叶斯学习引入先验知识"``."""
    return re.sub(r"^[#\s]*(?:[\d一二三四五六七八九十]+[.、:：)）]\s*)?", "", heading).strip()
