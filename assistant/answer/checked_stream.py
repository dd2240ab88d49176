"""A reply streamed as it passes its checks: a clause is shown once it is complete and does not
contradict the sources (``ContradictionCheck``); a line that only repeats what is shown above it
waits, and goes if it ends so."""

from __future__ import annotations

import re

from assistant.answer.contradictions import ContradictionCheck
from assistant.citations import CITATION

__all__ = ["CheckedStream"]

_CLAUSE_END = re.compile(r"[，,；;。！？!?：:]")
_COLON = re.compile(r"[:：]")


class CheckedStream:
    r"""A reply's pieces in, out the text that has passed the check, a clause at a time: a clause
    is shown once it is complete and does not contradict the sources; from a contradicting clause
    on, the rest of its line is withheld (its citation marks still close what was shown).

        >>> stream = CheckedStream(ContradictionCheck(["L2正则使得训练过程稳定平滑,但是没有产生稀疏性。"], "L1?"))
        >>> [stream.feed(p) for p in ["L1正则使得训练", "过程稳定平滑,但是", "没有产生稀疏性。 [1]\n"]]
        ['', '', '']
        >>> stream.feed("L2正则使得训练过程稳定平滑。") + stream.close()
        'L2正则使得训练过程稳定平滑。'
    """

    def __init__(self, check: ContradictionCheck, repeats=None):
        self.check = check
        self.repeats = repeats  # text -> True while a line only repeats what is already shown (the
        # quotes above it): such a line waits, and goes when it ends still repeating
        self.line = ""  # the line being generated, as generated
        self.shown = 0  # characters of it already passed on
        self.muted = False  # a clause of this line contradicted: the rest of it is withheld

    def feed(self, piece: str) -> str:
        """The text that may be shown now that ``piece`` has come."""
        out, *rest = piece.split("\n")
        self.line += out
        passed = []
        for part in rest:  # each newline completes the line before it
            passed.append(self._end_line())
            self.line += part
        passed.append(self._passed(complete=False))
        return "".join(passed)

    def close(self) -> str:
        """What is left to show once the reply has ended."""
        return self._end_line(newline=False)

    def _passed(self, complete: bool) -> str:
        if self.muted:
            return ""
        ends = [m.end() for m in _CLAUSE_END.finditer(self.line)]
        if ends and not complete and _COLON.fullmatch(self.line[ends[-1] - 1]):
            ends.pop()  # a label ("欠拟合:") waits for the clause it is put on
        upto = len(self.line) if complete else (ends[-1] if ends else 0)
        if upto <= self.shown:
            return ""
        if self.check.cut(self.line[:upto])[1]:
            self.muted = True
            return ""
        if not self.shown and self.repeats and self.repeats(self.line[:upto]):
            self.muted = complete  # a whole line that repeats goes; a part waits for the rest
            return ""
        text, self.shown = self.line[self.shown:upto], upto
        return text

    def _end_line(self, newline: bool = True) -> str:
        text = self._passed(complete=True)
        if self.muted and self.shown:  # close the shown part with the line's citation marks
            text += "".join(f" {m.group()}" for m in CITATION.finditer(self.line[self.shown:]))
        if newline and (self.shown or not self.muted):
            text += "\n"
        self.line, self.shown, self.muted = "", 0, False
        return text
