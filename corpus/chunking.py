"""Cut sections into overlapping chunks that never span two questions.

A chunk is a contiguous span of one section's text. Cuts fall between paragraphs, list items or
sentences, never inside a code block or a ``$$`` formula unless that block alone is longer than a
chunk. Each chunk knows its section and the sub-heading it sits under, and its ``embed_text``
carries the section title so a chunk deep in an answer still matches the question.

    >>> s = Section("d", "1", "什么是过拟合?", "第一段。\\n\\n第二段。")
    >>> [c.text for c in chunk_sections([s], ChunkConfig(max_chars=5, overlap_chars=0))]
    ['第一段。', '第二段。']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.sections import Section

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=[.] )")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class ChunkConfig:
    """How sections are cut into chunks."""

    max_chars: int = 600  # longest chunk in characters (a Chinese character counts as one); dev-tuned
    overlap_chars: int = 100  # text repeated from the end of the previous chunk, at most

    def __post_init__(self):
        if self.max_chars < 1:
            raise ValueError(f"max_chars should be positive, got {self.max_chars}")
        if not 0 <= self.overlap_chars < self.max_chars:
            raise ValueError(
                f"overlap_chars should be in [0, max_chars={self.max_chars}), got {self.overlap_chars}"
            )


@dataclass(frozen=True)
class Chunk:
    """A contiguous span ``text == section.text[start:end]`` of one section."""

    id: str  # "<section ref>:<index>", e.g. "ml_basics_qa#7:0"
    section_ref: str  # "<doc>#<number>", the section it belongs to
    doc: str
    number: str  # question number as printed
    title: str  # the section's question
    text: str
    start: int  # offset of text in the section's text
    end: int
    heading: str = ""  # the sub-heading this chunk starts under, "" when none

    @property
    def embed_text(self) -> str:
        """What the encoders see: the question title, the sub-heading, then the text."""
        parts = [self.title, self.heading, self.text]
        return "\n".join(p for p in parts if p)


def chunk_sections(sections: list[Section], config: ChunkConfig | None = None) -> list[Chunk]:
    """All chunks of all sections, in order. A section with no body gives one title-only chunk."""
    config = config or ChunkConfig()
    chunks = []
    for section in sections:
        spans = _pack(_units(section.text, config.max_chars), config)
        for i, (start, end, heading) in enumerate(spans or [(0, 0, "")]):
            chunks.append(
                Chunk(
                    id=f"{section.ref}:{i}",
                    section_ref=section.ref,
                    doc=section.doc,
                    number=section.number,
                    title=section.title,
                    text=section.text[start:end],
                    start=start,
                    end=end,
                    heading=heading,
                )
            )
    return chunks


def _pack(units: list[tuple[int, int, str]], config: ChunkConfig) -> list[tuple[int, int, str]]:
    """Greedily join units into spans of at most max_chars, each starting with up to
    overlap_chars of the units that ended the previous span."""
    spans = []
    i = 0
    while i < len(units):
        start, end, heading = units[i]
        j = i + 1
        while j < len(units) and units[j][1] - start <= config.max_chars:
            end = units[j][1]
            j += 1
        spans.append((start, end, heading))
        if j >= len(units):
            break
        # Step back over trailing units that fit in the overlap, but always move forward.
        k = j
        while k - 1 > i and end - units[k - 1][0] <= config.overlap_chars:
            k -= 1
        i = k
    return spans


def _units(text: str, max_chars: int) -> list[tuple[int, int, str]]:
    """Indivisible pieces (start, end, current sub-heading): paragraphs, list items, code blocks
    and formulas; a piece longer than max_chars is cut at sentence ends, then hard."""
    units = []
    heading = ""
    for start, end in _blocks(text):
        block = text[start:end]
        match = _HEADING.match(block)
        if match and "\n" not in block:
            heading = match.group(1).strip()
        for piece in _split_long(text, start, end, max_chars):
            units.append((*piece, heading))
    return units


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans of lines: a whole code fence, a whole ``$$`` formula, or one non-blank line."""
    blocks = []
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        j = i
        if _FENCE.match(line):
            j = _closing(lines, i, lambda s: bool(_FENCE.match(s)))
        elif line.strip().startswith("$$") and not (len(line.strip()) > 2 and line.strip().endswith("$$")):
            j = _closing(lines, i, lambda s: s.strip().endswith("$$"))
        blocks.append((offsets[i], offsets[j] + len(lines[j])))
        i = j + 1
    return blocks


def _closing(lines: list[str], i: int, is_close) -> int:
    """Index of the first line after i that closes the block, or the last line if none does."""
    for j in range(i + 1, len(lines)):
        if is_close(lines[j]):
            return j
    return len(lines) - 1


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    if end - start <= max_chars:
        return [(start, end)]
    pieces = []
    cut_points = [start + m.start() for m in _SENTENCE_END.finditer(text[start:end]) if m.start()]
    cut_points = sorted(set(p for p in cut_points if start < p < end)) + [end]
    piece_start = start
    last = start
    for point in cut_points:
        if point - piece_start > max_chars and last > piece_start:
            pieces.append((piece_start, last))
            piece_start = last
        last = point
    pieces.append((piece_start, end))
    # A single sentence longer than max_chars is cut hard.
    hard = []
    for s, e in pieces:
        hard.extend((p, min(p + max_chars, e)) for p in range(s, e, max_chars))
    return hard
