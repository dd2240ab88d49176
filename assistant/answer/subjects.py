"""What the notes say of which named thing: a clause the notes put under one name ("在 controlnet
中，…"), copied into a line that puts it under another the notes set beside it, says of the second
what the notes say of the first. "在T2I-Adapter中，作者是使用了sd-encoder" copies "作者是直接将 sd-encoder
复制了一份" from under "在 controlnet 中", where the notes compare ControlNet and T2I-Adapter: it is
ControlNet that copies the SD encoder. Clauses come normalised (``contradictions.clauses``), so
names are lower-case Latin words ("t2iadapter").

    >>> places = SubjectPlaces()
    >>> places.add(["controlnet和t2iadapter采用了不同的方法"])
    >>> places.add(["在controlnet中", "作者是直接将sdencoder复制了一份"])
    >>> places.misattributed("作者是直接将sdencoder复制了一份", ["在t2iadapter中"])
    ('t2iadapter', 'controlnet')
    >>> places.misattributed("作者是直接将sdencoder复制了一份", ["在controlnet中"]) is None
    True
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[a-z][a-z0-9]+")
_OF_SEVERAL = re.compile(r"都|(?<!平)均(?![值方匀衡])|两者|二者|共同|(?<!不)同时")  # a sentence that says it of several
# a clause that only says under what name the rest stands: "在controlnet中", "对于lora", "arcface"
_PLACE = re.compile(r"^(?:而|但)?(?:在|对于|对)?([a-z][a-z0-9]+)(?:中|里|里面|上|来说|而言)?$")


def names(text: str) -> set[str]:
    """The Latin names in normalised text: ``"controlnet和t2iadapter" -> {"controlnet", "t2iadapter"}``."""
    return set(_NAME.findall(text))


def is_place(clause: str) -> bool:
    """Whether a normalised clause only names what the rest stands under: "在controlnet中", "arcface"."""
    return bool(_PLACE.match(clause))


def place(clauses: list[str]) -> str:
    """The name the last clause of a place ("在X中") among ``clauses`` puts what follows under, or ""."""
    for clause in reversed(clauses):
        if match := _PLACE.match(clause):
            return match.group(1)
    return ""


class SubjectPlaces:
    """For each clause of the notes, the names it stands under in its sentences, and which names
    the notes' sentences set side by side; with the names a question ``compared`` (two or more),
    which of them each clause is said of."""

    def __init__(self, compared: set[str] = frozenset()):
        self.under: dict[str, list[str]] = {}  # clause -> for each place it stands, the name it is under
        self.together: list[set[str]] = []  # the names of each sentence
        self.compared = set(compared) if len(compared) >= 2 else set()
        # clause -> for each sentence holding it, the compared names it gives (else its source's) and
        # whether it says "都", "两者"… itself
        self.said_of: dict[str, list[tuple[set[str], bool]]] = {}

    def add(self, sentence: list[str], source_names: set[str] = frozenset()) -> None:
        """One sentence of the notes as its normalised clauses; ``source_names``: the names its source
        (the whole section) gives."""
        named = set().union(*(names(clause) for clause in sentence))
        self.together.append(named)
        if self.compared:
            of = (named & self.compared or source_names & self.compared, bool(_OF_SEVERAL.search("".join(sentence))))
            for clause in sentence:
                self.said_of.setdefault(clause, []).append(of)
        for j, clause in enumerate(sentence):
            self.under.setdefault(clause, []).append(place(sentence[:j]))

    def said_of_one(self, source: str) -> bool:
        """Whether the notes say ``source`` (a clause) of one and the same of the compared names
        everywhere they say it: each sentence holding it names just that one (or, naming none, its
        source does) and none itself says "都", "两者"…"""
        said = self.said_of.get(source, [])
        return bool(said) and len(set().union(*(of for of, _ in said))) == 1 \
            and all(len(of) == 1 and not several for of, several in said)

    def misattributed(self, source: str, before: list[str]) -> tuple[str, str] | None:
        """(the name a line puts a copy of ``source`` under, the name the notes put it under) when
        they differ wherever the notes hold it and the notes set the two side by side; else None.
        ``before``: the line's clauses before the copy. A copy under no name, or a clause the notes
        put under none, passes."""
        said = place(before)
        noted = self.under.get(source, [])
        if not said or not noted or not all(noted) or said in noted:
            return None
        other = noted[0]
        if said in other or other in said or not any(said in named and other in named for named in self.together):
            return None
        return said, other
