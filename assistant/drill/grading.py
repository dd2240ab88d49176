"""Grading a drill answer: the section's key points, which of them the answer covers, the grade
(``grade_answer``: on topic, not contradicting the notes, enough said), the model's reading of the
answer against the notes when a model that scores texts is there (``model_check``) and its
optional 0/1/2 judgement.

    >>> round(coverage_score(2, 5), 3)
    0.667
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from assistant.answer.contradictions import ContradictionCheck

from assistant.llm.base import ChatModel, GenerationOptions
from assistant.prompts import prompt_text
from assistant.text import name_pattern, split_sentences

MAX_POINTS = 5  # key points per section
POINT_CHARS = 90  # longest key point kept (longer sentences are cut at a clause)
COVERED_SHARE = 0.5  # a point counts as covered when this share of its head clause's terms is in the answer
FULL_MARKS_POINTS = 3  # covering this many key points (or all, if fewer) is a complete interview answer
ON_TOPIC_SHARE = 0.3  # below this share of its rare terms in the notes, an answer is about something else
FULL_LENGTH = 80  # length (CJK characters + 2 per English word) of a complete answer to a long section
LENGTH_SHARE = 0.3  # ... or this share of the section's own length, when that is less
GOOD_COVERAGE = 2 / 3  # key-point coverage that says enough for a good grade, however short the answer
NOTES_CHARS = 3000  # the notes the model reads when it checks an answer (a longer section is cut)
SUPPORT_CLIP = 2.0  # a token's log-probability gain from the notes counts at most this much either way
ANSWER_CHARS = 2000  # the model reads this much of an answer (a drill answer is a few sentences)


def extract_key_points(text: str, max_points: int = MAX_POINTS) -> list[str]:
    """The section's key points: its list items first (they carry the answer in this corpus), then
    its opening sentences, each cut to ``POINT_CHARS``.

    ``"过拟合是…。\\n- 1. 增加数据\\n- 2. 正则化" -> ["增加数据", "正则化", "过拟合是…。"]``
    """
    # English sentences too: "… training. It keeps …" is two points
    sentences = [part for sentence in split_sentences(text) for part in re.split(r"(?<=[a-z]{2}[.!?])\s+(?=[A-Z])", sentence)]
    items = [s for s in sentences if re.match(r"^([-*•]|\d+[.、)]|[（(]\d+[)）])", s)]
    ordered = items + [s for s in sentences if s not in items]
    points = []
    for sentence in ordered:
        point = re.sub(r"\*\*|__", "", sentence)
        point = re.sub(r"^([-*•]\s*)?(\d+[.、)]\s*|[（(]\d+[)）]\s*)?", "", point).strip()
        if len(point) > POINT_CHARS:
            point = re.split(r"[,，;；：]|(?<!:):(?!:)", point[:POINT_CHARS])[0]  # not inside "std::deque"
        if (is_point(point) or sentence in items and is_name(point)) and point not in points:
            points.append(point)
        if len(points) == max_points:
            break
    return points


def is_point(text: str) -> bool:
    """A gradable statement: at least 4 Chinese characters or English words (outside formulas; an
    English word counts two characters, so "AI绘画" and "Dropout drops units at random" pass), not a
    display formula, not a figure caption or a lead-in ending in a colon."""
    prose = re.sub(r"\$[^$]*\$", " ", text)  # inline formulas ($n+1$) do not count, nor block a point
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in prose)
    words = len(re.findall(r"[A-Za-z][A-Za-z0-9+#\-]*", prose))
    return (cjk + 2 * words >= 4 and (cjk >= 4 or words >= 4 or cjk + words >= 3) and "$$" not in text
            and "$" not in prose and not text.endswith((":", "："))
            and not re.search(r"如上图|如下图|示意图|如下所示|as shown (above|below)", text, re.I))


def is_name(text: str) -> bool:
    """A list item that only names something ("MobileNet", "AI绘画"): a point when the list is the answer."""
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+#.\-]{2,}(\s[A-Za-z0-9][A-Za-z0-9+#.\-]*){0,2}|[\u4e00-\u9fffA-Za-z0-9]{2,12}", text.strip()))


def point_coverage(points: list[str], answer: str, tokenizer) -> tuple[list[str], list[str]]:
    """(covered, missed) key points: a point is covered when ``COVERED_SHARE`` of its terms occur
    among the answer's terms (with the query glossary's synonyms and English translations)."""
    answer_terms = set(tokenizer.tokenize_query(answer))
    covered, missed = [], []
    for point in points:
        terms = _terms(_head_clause(point, tokenizer), tokenizer)
        share = len(terms & answer_terms) / len(terms) if terms else 0.0
        (covered if share >= COVERED_SHARE else missed).append(point)
    return covered, missed


def _terms(text: str, tokenizer) -> set[str]:
    return {t for t in tokenizer.tokenize(text) if len(t) > 1 or not t.isascii()}


def _head_clause(point: str, tokenizer) -> str:
    """What a point is about: its first clause when that says enough (3+ terms), else all of it.

    ``"重新清洗数据,数据不纯会导致过拟合…" -> "重新清洗数据"``; ``"欠拟合:模型在…" -> the whole point``.
    """
    head = re.split(r"[,，;；:：。]", point, maxsplit=1)[0]
    return head if len(_terms(head, tokenizer)) >= 3 or head == point else point


def coverage_score(covered: int, total: int) -> float:
    """Share of the expected points covered: ``FULL_MARKS_POINTS`` of them (or all, if fewer) is 1.0."""
    return min(1.0, covered / min(FULL_MARKS_POINTS, total)) if total else 0.0


@dataclass(frozen=True)
class ModelCheck:
    """What the model makes of an answer, reading it after the notes (``model_check``)."""

    support: float  # mean over the answer's tokens of how much likelier the notes make each (log-
    # probability with the notes and question minus with the question alone, clipped to ±SUPPORT_CLIP):
    # > 0 the notes back the answer, < 0 they make it less likely than the question alone does
    swapped: tuple[str, str] | None  # two subjects of the question that the answer has the wrong way
    # round: the notes make the answer with them exchanged likelier than the answer as given


def model_check(model: ChatModel, title: str, text: str, answer: str, index) -> ModelCheck:
    """Read ``answer`` with ``model`` (``capabilities.scoring``) after the section's notes: how much
    the notes back it (``support``) and whether it swaps two subjects of the question (``"ViT和MAE
    的区别"`` answered with each one's traits given to the other). Two forward passes, and one more
    for each pair of the question's subjects that the answer names (a question sets two side by
    side, rarely three)."""
    answer = answer[:ANSWER_CHARS]
    with_notes = f"笔记：\n{text[:NOTES_CHARS]}\n\n问题：{title}\n回答："
    read = model.continuation_logprobs(with_notes, answer)
    alone = model.continuation_logprobs(f"问题：{title}\n回答：", answer)
    gains = [max(-SUPPORT_CLIP, min(SUPPORT_CLIP, a - b)) for a, b in zip(read, alone)]
    support = sum(gains) / len(gains) if gains else 0.0
    # each subject the answer names, as the answer writes it ("TCP", not the index's "tcp")
    found = (name_pattern(s).search(answer) for s in question_subjects(title, index))
    named = list(dict.fromkeys(match.group(0) for match in found if match))
    swapped, best = None, sum(read)
    for a, b in itertools.combinations(named, 2):
        likelier = sum(model.continuation_logprobs(with_notes, exchange(answer, a, b)))
        if likelier > best:
            swapped, best = (a, b), likelier
    return ModelCheck(round(support, 3), swapped)


def _either(a: str, b: str) -> re.Pattern:
    """``a`` or ``b`` as names (``text.name_pattern``), the longer first, so "Transformer-XL" is not
    read as "Transformer"."""
    longer, shorter = sorted((a, b), key=len, reverse=True)
    return re.compile(f"{name_pattern(longer).pattern}|{name_pattern(shorter).pattern}", re.I)


def exchange(text: str, a: str, b: str) -> str:
    """``text`` with ``a`` and ``b`` (found in any case) exchanged, each written as ``text`` first
    writes the other: ``exchange("ViT切块，MAE掩码", "vit", "mae") -> "MAE切块，ViT掩码"``."""
    written = {term.lower(): name_pattern(term).search(text) for term in (a, b)}
    as_written = {key: found.group(0) if found else key for key, found in written.items()}
    other = {a.lower(): as_written[b.lower()], b.lower(): as_written[a.lower()]}
    return _either(a, b).sub(lambda m: other[m.group(0).lower()], text)


@dataclass(frozen=True)
class Grade:
    """The grade of an answer: wrong (score < 1/3), partial (< 2/3) or good."""

    score: float  # 0..1; its band is the grade, its place in the band how far the answer got
    on_topic: float  # rarity-weighted share of the answer's terms that the notes use
    substance: float  # how much it says: its length over a complete answer's, or its key-point coverage
    # over ``GOOD_COVERAGE``, whichever is more (1 or more is enough)
    contradiction: str  # what it says against the notes ("" when nothing): such an answer is wrong
    support: float | None = None  # ModelCheck.support, None without a model check


def grade_answer(answer: str, title: str, text: str, points: list[str], index,
                 covered: list[str] | None = None, check: ModelCheck | None = None) -> Grade:
    """Grade ``answer`` to the section (``title``, ``text``, its key ``points``) of ``index`` (a
    SearchIndex: its tokenizer and section frequencies). Wrong: it contradicts the notes, or its
    terms are mostly not theirs; good: it also says enough; partial otherwise. ``covered``: the
    points ``point_coverage`` found in the answer, when the caller has them already.

    With the model's ``check``: an answer that swaps two subjects of the question is wrong, one the
    notes do not make likelier (support < 0) is at best partial, and the support places an answer
    within its band.

    ``"低频信息指的是图像的边缘和细节"`` to notes where the edges are high frequency -> score < 1/3.
    """
    tokenizer = index.tokenizer
    on_topic = on_topic_share(answer, title + "\n" + text, index)
    if covered is None:
        covered = point_coverage(points, answer, tokenizer)[0]
    coverage = coverage_score(len(covered), len(points))
    # a complete answer to a short section is short: the length asked for follows the section's
    need = min(FULL_LENGTH, LENGTH_SHARE * text_length(text))
    substance = max(text_length(answer) / need if need else 1.0, coverage / GOOD_COVERAGE)
    contradiction = contradiction_in(answer, title, text, index)
    if not contradiction and check is not None and check.swapped:
        contradiction = 'has "{}" and "{}" the wrong way round'.format(*check.swapped)
    support = None if check is None else check.support
    if contradiction or on_topic < ON_TOPIC_SHARE:
        score = _in_band(0, min(1.0, on_topic / ON_TOPIC_SHARE) * (0.5 if contradiction else 1.0))
    elif substance < 1 or support is not None and support < 0:
        # with the model: half how much it says (up to enough), half how far the notes back it
        # (support -0.5 or less -> 0, 0 or more -> 1)
        backed = None if support is None else min(1.0, max(0.0, 2 * support + 1))
        score = _in_band(1, substance if backed is None else (min(substance, 1) + backed) / 2)
    else:
        score = _in_band(2, on_topic if support is None else support)
    return Grade(score, round(on_topic, 3), round(substance, 3), contradiction, support)


def _in_band(band: int, share: float) -> float:
    """A score in ``band`` (0, 1, 2) placed by ``share`` in [0, 1]: ``_in_band(1, 0.5) -> 0.5``."""
    return (band + min(max(share, 0.0), 0.99)) / 3


def text_length(text: str) -> int:
    """How much a text says: CJK characters, and 2 per English word (``"ReLU很快" -> 4``)."""
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text) + 2 * len(re.findall(r"[A-Za-z]+", text))


def on_topic_share(answer: str, notes: str, index) -> float:
    """Share of the answer's terms, each weighted by its rarity over the corpus's sections (IDF),
    that the notes use too (an English word also through the glossary's Chinese terms). An English
    word that is neither the notes' nor the glossary's is left out: it cannot be told apart from
    plain English ("cheaper", "inputs"), so an English answer is judged by its technical terms.

    ``"幻觉是因为参数太多过拟合"`` to the notes on hallucination's sources -> about 0.2.
    """
    tokenizer = index.tokenizer
    noted = _terms(notes, tokenizer) | set(tokenizer.tokenize_query(notes))
    translated: dict[str, set[str]] = {}
    for phrase, terms in tokenizer.glossary_terms(answer):
        for word in phrase.split():
            translated.setdefault(word, set()).update(terms)
    sections = len(index.sections)
    said = used = 0.0
    for term in _terms(answer, tokenizer):
        hit = term in noted or bool(translated.get(term, set()) & noted)
        if term.isascii() and not hit and term not in translated:
            continue  # plain English or a word the corpus lacks: no evidence either way
        weight = math.log((sections + 1) / (index.section_frequency(term) + 1))
        said, used = said + weight, used + weight * hit
    return used / said if said else 0.0


def contradiction_in(answer: str, title: str, text: str, index) -> str:
    """What the answer says against the notes, or "": a clause of the notes near-copied with a term
    swapped, a negation flipped or a number changed (the answer pipeline's ``ContradictionCheck``),
    or a clause that says of one subject of the question what the notes say only of another.

    ``"ReLU的输出是零中心化的"`` to notes "ReLU的输出是非零中心化的" -> ``'drops the negation "非" of …'``.
    """
    lines = re.sub(r"([。；;！？!?])", r"\1\n", answer)  # the check cuts a line at its first conflict
    conflicts = [c for c in ContradictionCheck([text], title).reply(lines)[1] if c.contradicts]
    if conflicts:
        return conflicts[0].describe()
    swap = swapped_subject(answer, title, text, index)
    return f'says of "{swap[0]}" what the notes say of "{swap[1]}"' if swap else ""


def question_subjects(title: str, index) -> list[str]:
    """The things a question sets side by side, each part's rarest term of its own:
    ``"图像中低频信息和高频信息的定义" -> ["低频", "高频"]``; [] for a question about one thing."""
    parts = [p for p in re.split(r"和|与|、|及|或|/|\bvs\.?\b|\band\b|\bor\b", title, flags=re.I) if p.strip()]
    if len(parts) < 2:
        return []
    part_terms = [_terms(part, index.tokenizer) for part in parts]
    subjects = []
    for i, terms in enumerate(part_terms):
        own = terms - set().union(*(other for j, other in enumerate(part_terms) if j != i))
        if own:
            subjects.append(min(sorted(own), key=index.section_frequency))
    return subjects


def swapped_subject(answer: str, title: str, text: str, index) -> tuple[str, str] | None:
    """(said, noted) when a clause of the answer names one subject of the question and at least two
    terms that the notes use only of another (and more of those than of its own): "低频信息指的是图像
    的边缘和细节" where "边缘", "细节" are only in the notes' sentences on 高频 -> ("低频", "高频")."""
    subjects = question_subjects(title, index)
    if len(subjects) < 2:
        return None
    sentences = [_terms(s, index.tokenizer) for s in re.split(r"[。！？!?\n]", text) if s.strip()]
    # what the notes say of each subject: the terms of the sentences that name it and no other
    about = {s: set().union(*(x for x in sentences if s in x and not any(o in x for o in subjects if o != s)))
             for s in subjects}
    for clause in re.split(r"[，,；;。！？!?\n]", answer):
        words = _terms(clause, index.tokenizer)
        named = [s for s in subjects if s in words]
        if len(named) != 1:
            continue  # a clause that compares subjects, or names none, is not attributed
        said, evidence = named[0], words - set(subjects)
        for other in subjects:
            own, theirs = (len(evidence & (about[a] - about[b])) for a, b in ((said, other), (other, said)))
            if other != said and theirs >= 2 and theirs > own:
                return said, other
    return None


def judge_answer(model: ChatModel, question: str, points: list[str], answer: str) -> float | None:
    """The LLM's grade of ``answer`` against the reference points: 2 -> 1.0, 1 -> 0.5, 0 -> 0.0;
    None when its reply holds no grade."""
    prompt = prompt_text("grade_prompt.txt").format(
        question=question, points="\n".join(f"- {p}" for p in points), answer=answer.strip())
    reply = model.generate([{"role": "user", "content": prompt}], GenerationOptions(temperature=0.0, max_new_tokens=4))
    digit = re.search(r"[012]", reply)
    return None if digit is None else int(digit.group(0)) / 2
