"""Lines of a reply that say what their sources do not: a source clause copied with one thing changed.

A small model answering from notes mostly copies and stitches their clauses. Its worst errors are
near-copies that change what the clause says: the subject swapped for the question's one ("L2正则
使得…没有产生稀疏性" written about L1), a negation added or dropped, a number changed, a word turned into
its opposite ("增加" for "减少"). Each line's clauses are aligned with the closest source clause;
what the alignment changes is then classified:

    >>> check = ContradictionCheck(["L2正则使得整个训练过程稳定平滑,但是没有产生稀疏性。"], "L1为什么稀疏？")
    >>> check.line("L1正则使得整个训练过程稳定平滑,但是没有产生稀疏性。 [1]").kind
    'term'
    >>> check.line("L2正则使得整个训练过程稳定平滑。 [1]") is None
    True

A line that copies nothing closely enough is not judged here (``groundedness`` and the judge do),
unless the check is built with ``copies_only``: then a clause in the model's own words is cut too
("unsupported"), so that what is shown is the sources' clauses, selected and ordered:

    >>> ContradictionCheck(["L2正则使得整个训练过程稳定平滑。"], copies_only=True).line("L2正则让一切都变好。").kind
    'unsupported'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from assistant.answer.changes import (
    LATIN,
    UNIT,
    contradicting_change,
    dropped_negation,
    names_in,
    names_masked,
)
from assistant.answer.subjects import SubjectPlaces, is_place, names
from assistant.citations import CITATION, strip_citations
from assistant.text import LIST_ITEM

MIN_SIMILARITY = 0.6  # a clause this close to a source clause (difflib ratio) is a near-copy of it
OPPOSITE_SIMILARITY = 0.8  # a clause read as copied from the notes on the opposite problem must be this
# close to one of theirs ("减少正则化系数" of "减小正则化系数"): a loose paraphrase ("过拟合是模型在训练集上好")
# may be nearest to the other side's wording and still be right
NAMES_ASIDE_SIMILARITY = 0.9  # a clause this close to a source clause with every Latin name and number
# masked says what that one says, whatever names it puts it under
MIN_CLAUSE_CHARS = 5  # shorter clauses ("如下", "例如") are not compared
MIN_KEPT_CHARS = 8  # a line cut to fewer letters than this goes whole
MAX_LABEL_CHARS = 10  # a sentence's first clause this short, before a colon, is a label ("过拟合: …")
_CLAUSE = re.compile(r"[^，,；;。！？!?：:\n]+")
_NORMALISE = re.compile(r"[^\w.%]|_")  # keeps letters, digits, CJK, "." and "%"
_BRACKETED = re.compile(r"[（(]\s*([A-Za-z][\w\-\s.]{0,40}?)\s*[)）]")  # "（LLM）", "(Attention)"
_PRONOUN = re.compile(r"^(?:它们?|其|该|此|这种?|那种?)$")  # what a name may resolve ("它通过…" -> "LoRA通过…")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# "它们都…", "两者均…": what follows said of both (or all) of the things the answer is about
_BOTH = re.compile(r"^(?:而且|并且|且|另外)?(?:它们|他们|两者|二者|这两者|这二者|两种(?:方法|算法|模型|方式)?|这两种(?:方法|算法|模型|方式)?"
                   r"|两个(?:方法|算法|模型)?)(?:也|其实|同样)?(?:都|均)")
_WORD_END = re.compile(r"\w$")
_COLON = re.compile(r"[:：]")
_LIST_NUMBER = re.compile(r"^(?:[-*+]\s*)?(?:\d+[.、)）]|[（(]\d+[)）])\s*")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n(?![ \t]*$)")
_FAMILY = re.compile(r"(?<![a-z0-9])([a-z]+)(\d+)(?![a-z0-9])")  # l1/l2, fp16/fp32, top1/top5: one family
_FORMULA = re.compile(r"[a-zA-Z0-9)]\s*[-+*/^|=]|[|\\^]")  # "L+C|w|", "W^2", "\\lambda": a formula, not a word
_CONDITION = re.compile(r"^(?:而|但|但是|并且|且|那么)?(?:如果|若|假如|假设|当|想要|要想|对于|只有|一旦|只要|除非|在.{0,12}(?:时|情况下|时候))")
# a clause that only says when or where what follows holds ("在使用L2正则进行优化时", "如果数据很少的话")
_WHEN = re.compile(r"^(?:而|但|但是|并且|且|那么)?(?:如果|若|假如|当(?![然作成前])|对于|只要|一旦|除非|在)[^时将把是]{0,16}"
                   r"(?:时|时候|情况下|的话|中|里|上|下|来说|而言)$")
_CLAUSE_END = re.compile(r"(?<=[，,；;。！？!?])")
_LAST_SENTENCE = re.compile(r"[^。！？!?\n]*$")


@dataclass(frozen=True)
class Conflict:
    """A reply line that changes what the source clause it copies says."""

    line: str  # the reply's line as written
    kind: str  # "term" (a term or word swapped, or a sentence about another term of its family),
    # "opposite" (copied from the notes on the opposite of what the answer is about: a remedy for
    # underfitting given for overfitting; ``OppositeSources``),
    # "label" (a copied clause put under a label the notes give to another passage),
    # "negation" (one added or dropped), "number", "condition" (copied without the condition it holds
    # under), "both" (a clause the notes say of one thing, said of both: "它们都重新计算聚类中心");
    # "unsupported" (a clause close to no source clause, cut only by a ``copies_only`` check)
    said: str  # what the line says there ("l1")
    noted: str  # what the source says ("l2")
    source: str  # the source clause it near-copies

    @property
    def contradicts(self) -> bool:
        """The clause changes what its source says (rather than saying what no source does)."""
        return self.kind != "unsupported"

    def to_dict(self) -> dict:
        return {"line": self.line, "kind": self.kind, "said": self.said, "noted": self.noted, "source": self.source,
                "why": self.describe()}

    def describe(self) -> str:
        """``'says "l1" where the notes say "l2" (L2正则使得…)'``."""
        where = self.source if len(self.source) <= 40 else self.source[:40] + "…"
        if self.kind == "unsupported":
            return f'says "{self.said}" in its own words: no source clause is close to it'
        if self.kind == "condition":
            return f'drops the condition "{self.noted}" under which the notes say "{where}"'
        if self.kind == "opposite":
            return f'is about {self.noted} where the answer is about {self.said}: "{where}" is from the notes on {self.noted}'
        if self.kind == "both":
            return f'says "{self.said}" of what the notes say of one thing ("{where}")'
        if self.kind == "negation":
            if self.said:
                return f'adds a negation ("{self.said}") to "{where}"'
            return f'drops the negation "{self.noted}" of "{where}"'
        return f'says "{self.said}" where the notes say "{self.noted}" ({where})'


def normalise(text: str) -> str:
    """What clauses are aligned on: ``"**L1 正则**：0.5" -> "l1正则0.5"``."""
    return _NORMALISE.sub("", text.lower()).strip(".")


def clauses(text: str) -> list[str]:
    """``"1. 过拟合：训练好，测试差。" -> ["过拟合", "训练好", "测试差"]`` (list numbers and citations aside)."""
    body = _LIST_NUMBER.sub("", strip_citations(text).strip())
    return [c for c in (normalise(piece) for piece in _CLAUSE.findall(body)) if c]


class ContradictionCheck:
    """Checks reply lines, clause by clause, against the clauses of their sources."""

    def __init__(self, sources: list[str], question: str = "", copies_only: bool = False, opposite=None,
                 titles: list[str] = ()):
        self.copies_only = copies_only  # a clause close to no source clause is cut too
        self.opposite = opposite  # an ``OppositeSources`` over ``sources``: a clause only the side the
        # answer is not about holds is cut ("opposite"); None: not checked
        self.holders: dict[str, set[int]] = {}  # source clause -> the sources (0-based) that hold it
        self.text = normalise("".join(sources) + question)  # where a swapped-in term must occur
        # each source clause -> where it stands: (the clause before it in its sentence, family terms
        # of its sentence and the ones either side, those of its sentence alone)
        self.context: dict[str, list[tuple[str, set[str], set[str]]]] = {}
        self.labels: set[str] = set()  # sentences' short first clauses followed by more ("过拟合" of "过拟合: 模型…")
        # each source sentence as formulas are compared ("l+c|w|"), with the family terms it names
        # (those of the sentences beside it when it names none)
        self.formula_places: list[tuple[str, set[str]]] = []
        self.asked = normalise(question)  # with the source that holds it, what a copy of a clause may name
        # each source as the model read it, under its title (``titles``, when given: "MCoT" may be there alone)
        self.normalised = [normalise(f"{title}\n{text}") for title, text in zip([*titles, *[""] * len(sources)], sources)]
        # what the notes' sentences say of which named thing, and of which of the names the question compares
        self.subjects = SubjectPlaces(names(normalise(question)))
        named: set[str] = set()  # every family term of the sources
        for number, text in enumerate(sources):
            written = _sentences(text)
            sentences = [clauses(sentence) for sentence in written]
            in_source = names(normalise(text)) if self.subjects.compared else set()
            for sentence in sentences:
                self.subjects.add(sentence, in_source)
            self.labels |= {sentence[0] for sentence in sentences
                            if len(sentence) > 1 and len(sentence[0]) <= MAX_LABEL_CHARS}
            terms = [_families(sentence) for sentence in written]
            named |= set().union(*terms)
            # a list item is also about what its list's lead-in names ("MobileNetV3在整体上有两大创新：")
            leads = _lead_ins(written, terms)
            for i, sentence in enumerate(sentences):
                own, around = terms[i] or leads[i], set().union(*terms[max(0, i - 1):i + 2], leads[i])
                self.formula_places.append((_formula_key(written[i]), own or around))
                for j, clause in enumerate(sentence):
                    self.context.setdefault(clause, []).append((sentence[j - 1] if j else "", around, own))
                    self.holders.setdefault(clause, set()).add(number)
        self.clauses = [c for c in self.context if len(c) >= MIN_CLAUSE_CHARS]
        self.masked = {clause: names_masked(clause) for clause in self.clauses}  # names aside: "§正则使得…"
        # what a line that names no term is read as about; a short name the sources write in full ("V2"
        # of "MobileNetV2") is read as that
        self.question_terms = {_in_full(term, named) for term in _families(question)}
        self._seen: dict[str, tuple] = {}  # clause -> (its change, its source clause): a stream re-checks lines
        self._held: dict[str, list[set[int]]] = {}  # clause -> ``_holder_sets``: the same

    def lines(self, reply: str) -> list[Conflict]:
        """Every line of ``reply`` that contradicts its source clause."""
        return [conflict for line in reply.splitlines() if (conflict := self.line(line))]

    def line(self, line: str) -> Conflict | None:
        """The first clause of ``line`` that contradicts the source clause it near-copies, or None."""
        return self.cut(line)[1]

    def cut(self, line: str) -> tuple[str, Conflict | None]:
        """``line`` up to its first contradicting clause (with the line's citation marks), and that
        clause's conflict: ``"过拟合可以用正则缓解，L1不会产生稀疏解。 [1]" -> ("过拟合可以用正则缓解。 [1]", …)``;
        ``("", …)`` when the first clause contradicts; ``(line, None)`` when none does."""
        label_start, label, previous_end = 0, "", 0
        for match in _CLAUSE.finditer(line):
            introduced = bool(_COLON.search(line[previous_end:match.start()]))
            found = self.clause(match.group(), line, label if introduced else "", match.start())
            if found:
                # the clause that introduces it ("新的目标函数:", a label) says nothing without it: it goes too
                start = label_start if introduced else match.start()
                kept = _without_dangling_place(line[:start].rstrip("，,；;：: "))
                marks = " ".join(m.group() for m in CITATION.finditer(line[match.start():]))
                left = clauses(kept)
                # a fragment ("在L2正则下"), a condition ("在使用L2正则进行优化时") or a place ("在T2I-Adapter中")
                # alone says nothing
                if len("".join(left)) < MIN_KEPT_CHARS or all(_CONDITION.match(c) or _says_where(c) for c in left):
                    return "", found
                if _CJK.search(kept) and _WORD_END.search(kept):  # a Chinese sentence cut short ends as one
                    kept += "。"
                return (f"{kept} {marks}" if marks and not CITATION.search(kept) else kept), found
            label_start, label, previous_end = match.start(), "".join(clauses(match.group())), match.end()
        return line, None

    def clause(self, text: str, line: str = "", label: str = "", at: int = -1) -> Conflict | None:
        """The conflict of one clause of a reply line with the source clause it near-copies;
        ``label``: the clause before it in the line when a colon parts them ("欠拟合" of "欠拟合: …");
        ``at``: where the clause starts in ``line`` (-1: unknown)."""
        found = clauses(text)
        clause = found[0] if found else ""
        if len(clause) < MIN_CLAUSE_CHARS:  # too short to align, but a formula is checked where it stands
            change = self._formula_out_of_context(text, line or text) if _FORMULA.search(text) else None
            return Conflict(line or text, *change, text.strip()) if change else None
        if clause not in self._seen:
            self._seen[clause] = self._change(clause)
        change, source = self._seen[clause]
        if source is None and self.copies_only:
            return Conflict(line or text, "unsupported", clause, "", "")
        if source and not change and label:
            change = self._mislabelled(source, label)
        if source and not change:
            change = self._out_of_context(clause, source, line or text)
        if source and not change and at > 0:  # the name its sentence puts it under, in the line and in the notes
            said = self.subjects.misattributed(source, clauses(_LAST_SENTENCE.search(line[:at]).group()))
            change = ("term", *said) if said else None
        if source and not change and (both := _BOTH.match(clause)) and self.subjects.said_of_one(source):
            change = ("both", both.group(), "")  # a copy of what the notes say of one, said of both
        if not change and self.opposite:
            change = self._opposite(clause, source)
        if not change and self.copies_only and (added := self._named_anew(clause, source, _glosses(line or text))):
            # a copy that puts in a name its source never names: "BLIP-2引入了Transformer-XL" of the
            # notes' "Transformer-XL：在Transformer中引入相对位置编码…"
            return Conflict(line or text, "unsupported", added, "", "")
        if not change:
            return None
        kind, said, noted = change
        return Conflict(line or text, kind, said, noted, source)

    def _change(self, clause: str) -> tuple[tuple[str, str, str] | None, str | None]:
        """(what the clause changes that contradicts its source clause, that source clause)."""
        holding = [source for source in self.clauses if clause in source]
        if holding:  # copied whole: contradicting only when every copy drops a negation before it
            changes = [dropped_negation(source, clause) for source in holding]
            return (None if None in changes else changes[0]), holding[0]
        source = self._closest(clause)
        change = contradicting_change(source, clause, self.text) if source else None
        if not change and LATIN.search(clause):  # another clause's words under this one's names
            other = self._same_but_names(clause, source)
            swapped = contradicting_change(other, clause, self.text) if other else None
            if swapped and swapped[0] == "term":
                return swapped, other
        return change, source

    def _named_anew(self, clause: str, source: str, glossed: set[str] = frozenset()) -> str:
        """The first Latin name a Chinese ``clause`` puts into the ``source`` clause it copies that
        nothing given names where it stands: one added where the source clause has nothing, that
        neither the question nor a source holding that clause names ("blip2" of "blip2引入了
        transformerxl" copied from "transformerxl", in notes on language models that never name
        BLIP-2); one in place of another name, that neither the question nor any source names (a
        swap to a name they do give is the contradiction checks' to judge: "3D Causal VAE" for "3D
        VAE" where another passage calls it so stays). "" when none. A name in place of Chinese
        words ("zero" for "零", "LoRA" for "它" aside) is a translation, and one in ``glossed`` (the line's
        bracketed names) a gloss: neither is a new name."""
        if not _CJK.search(clause):
            return ""
        noted, said = UNIT.findall(source), UNIT.findall(clause)
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, noted, said, autojunk=False).get_opcodes():
            replaced = "".join(noted[i1:i2])
            if tag == "equal" or _CJK.search(replaced) and not names_in(replaced) and not _PRONOUN.match(replaced):
                continue
            named = [self.text] if names_in(replaced) else [self.asked, *(self.normalised[n] for n in self.holders[source])]
            for name in names_in("".join(said[j1:j2])):
                if not any(name in text for text in named) and name not in glossed:
                    return name
        return ""

    def _same_but_names(self, clause: str, closest: str | None) -> str | None:
        """The source clause that says what ``clause`` says under other names, closer to it so than
        ``closest`` is: "malloc和free是C++中的运算符" is "new和delete是C++中的运算符" of the notes with
        the names swapped, though nearest, letter by letter, to their "malloc和free是C语言中的函数"."""
        masked = names_masked(clause)
        if len(_CJK.findall(masked)) < MIN_CLAUSE_CHARS:  # "例如§", an English clause ("§"): too little to align
            return None
        best, best_ratio = None, max(NAMES_ASIDE_SIMILARITY, _ratio(self.masked[closest], masked) if closest else 0.0)
        for source in self.clauses:
            matcher = SequenceMatcher(None, self.masked[source], masked, autojunk=False)
            if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
                continue
            ratio = matcher.ratio()
            if ratio > best_ratio:
                best, best_ratio = source, ratio
        return best

    def _formula_out_of_context(self, text: str, line: str) -> tuple[str, str, str] | None:
        """A short formula put in a line about another term of its family than every sentence that
        writes it: "L2正则的目标函数: L+C|w|" where the notes write "L+C|w|" only for L1."""
        key = _formula_key(text)
        places = [terms for sentence, terms in self.formula_places if key and key in sentence]
        terms = _families(strip_citations(line)) or self.question_terms
        if terms and places and all(not terms & place and _siblings(terms, place) for place in places):
            return ("term", *_siblings(terms, places[0]))
        return None

    def _opposite(self, clause: str, source: str | None) -> tuple[str, str, str] | None:
        """("opposite", what the answer is about, what the notes it copies are about) when ``clause``,
        or a source clause it contains whole ("增加训练样本数量" in "增加训练样本数量可以提高泛化能力"), is
        held only by the side of ``self.opposite`` the answer is not about."""
        if clause not in self._held:
            self._held[clause] = self._holder_sets(clause, source)
        for holders in self._held[clause]:
            if wrong := self.opposite.wrong(holders):
                return ("opposite", *wrong)
        return None

    def _holder_sets(self, clause: str, source: str | None) -> list[set[int]]:
        """The sources holding ``clause`` (whole, else as a close copy of ``source``), then those
        holding each source clause it contains whole."""
        whole = [held for held in self.clauses if clause in held]
        close = source and SequenceMatcher(None, source, clause, autojunk=False).ratio() >= OPPOSITE_SIMILARITY
        pieces = [set().union(*(self.holders[held] for held in whole or ([source] if close else [])))]
        return pieces + [self.holders[part] for part in self.clauses if part in clause and part != clause]

    def _mislabelled(self, source: str, label: str) -> tuple[str, str, str] | None:
        """A copied clause under a label the notes give to another passage: "欠拟合: 模型在训练集上拟合的
        很好…" where the notes write "过拟合: 模型在训练集上拟合的很好…" and "欠拟合: …" elsewhere. Both
        labels must be the notes' own (short first clauses of their sentences), so a label of the
        model's own words, or one the notes put before this clause anywhere, passes."""
        if label not in self.labels:
            return None
        noted = [before for before, *_ in self.context[source]]
        if all(before in self.labels and before != label and label not in before and before not in label
               for before in noted):
            return "label", label, noted[0]
        return None

    def _out_of_context(self, clause: str, source: str, line: str) -> tuple[str, str, str] | None:
        """A clause true where the notes say it but not where the line puts it, everywhere it occurs:
        said of another term of its family ("这里最优的w就变成了0" from the notes on L1, in an answer
        on L2), or copied whole without the condition it holds under ("一般使用低阈值" of "而想要召回率高，")."""
        terms = _families(clause) or _families(strip_citations(line)) or self.question_terms  # what it is about
        line = normalise(line)
        # a clause naming no term is about what its own sentence names, when that names one ("从而使得整个训练
        # 过程稳定平滑" of the sentence on L2, not of the one on L1 beside it); else about its neighbours'
        own = not _families(clause)
        places = [(before, (sentence or around) if own else around) for before, around, sentence in self.context[source]]
        if terms and all(around and not terms & around and _siblings(terms, around) for _, around in places):
            said, noted = _siblings(terms, places[0][1])
            return "term", said, noted
        if clause == source and all(_CONDITION.match(before) and before not in line for before, _ in places):
            return "condition", "", places[0][0]
        return None

    def reply(self, reply: str) -> tuple[str, list[Conflict]]:
        """``reply`` with each line ``cut`` at its first contradicting clause (a line cut to nothing
        goes), and the conflicts found."""
        kept, conflicts = [], []
        for line in reply.split("\n"):
            text, conflict = self.cut(line)
            if conflict:
                conflicts.append(conflict)
                if not text:
                    continue
            kept.append(text)
        return "\n".join(kept).strip(), conflicts

    def _closest(self, clause: str) -> str | None:
        best, best_ratio = None, MIN_SIMILARITY
        for source in self.clauses:
            matcher = SequenceMatcher(None, source, clause, autojunk=False)
            if matcher.real_quick_ratio() < best_ratio or matcher.quick_ratio() < best_ratio:
                continue
            ratio = matcher.ratio()
            if ratio > best_ratio:
                best, best_ratio = source, ratio
        return best


def _glosses(line: str) -> set[str]:
    """The names a line puts in brackets, normalised: glosses of the words before them rather than
    new names ("注意力机制（Attention）", "大语言模型（LLM）" -> {"attention", "llm"})."""
    return {normalise(inner) for inner in _BRACKETED.findall(line)}


def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _sentences(text: str) -> list[str]:
    """A source's sentences; a line that ends in a comma goes on on the next one (a list item cut
    in two by a conversion): "而想要召回率高,\n- 一般使用低阈值。" is one sentence."""
    text = re.sub(r"[,，]\s*\n\s*(?:[-*+]\s+)?", "，", text)
    return [piece for piece in _SENTENCE_END.split(text) if piece.strip()]


def _formula_key(text: str) -> str:
    """A formula as formulas are compared, markup and spacing aside: ``" $L+C|w|$ [1]" -> "l+c|w|"``."""
    return re.sub(r"[\s$\\{}]", "", strip_citations(text).lower())


def _without_dangling_place(kept: str) -> str:
    """``kept`` without a last clause that only says where or when what was cut holds:
    "两者不同。在T2I-Adapter中" -> "两者不同。"."""
    pieces = _CLAUSE_END.split(kept)
    last = normalise(pieces[-1]) if len(pieces) > 1 else ""
    return "".join(pieces[:-1]).rstrip("，,；; ") if last and _says_where(last) else kept


def _says_where(clause: str) -> bool:
    """Whether a normalised clause only says when or where the rest holds: "在t2iadapter中",
    "对于lora来说", "在训练时"; not "当作可训练模块", "如果学习率太大模型会发散" or a bare name ("relu",
    more often the last of a list than a place)."""
    return bool(_WHEN.match(clause) or is_place(clause) and not clause.isascii())


def _families(text: str) -> set[str]:
    """Terms that come in numbered families: ``"L1正则比l2稀疏, ReLU" -> {"l1", "l2"}``."""
    return {m.group() for m in _FAMILY.finditer(text.lower())}


def _lead_ins(sentences: list[str], terms: list[set[str]]) -> list[set[str]]:
    """For each sentence, the family terms of the lead-in of the list it is an item of ("…有两大创新："
    before "1. …", "2. …"), or an empty set."""
    leads, lead = [], set()
    for sentence, named in zip(sentences, terms):
        item = bool(LIST_ITEM.match(sentence))
        leads.append(lead if item else set())
        if not item:
            lead = named if sentence.rstrip().endswith((":", "：")) else set()
    return leads


def _in_full(term: str, named: set[str]) -> str:
    """``term`` as the sources write it in full, when they write one such name only: "V2" (as
    ``_families`` gives it, lower case) is "MobileNetV2" where the sources name MobileNetV2 and no
    other name ending in "V2"."""
    longer = {name for name in named if name.endswith(term) and name != term}
    return longer.pop() if len(longer) == 1 and term not in named else term


def _siblings(terms: set[str], others: set[str]) -> tuple[str, str] | None:
    """A term of ``terms`` and another of ``others`` from its family: ({"l2"}, {"l1"}) -> ("l2", "l1")."""
    for term in sorted(terms):
        prefix = _FAMILY.fullmatch(term).group(1)
        for other in sorted(others):
            if other != term and _FAMILY.fullmatch(other).group(1) == prefix:
                return term, other
    return None
