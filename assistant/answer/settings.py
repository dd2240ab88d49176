"""``AnswerConfig``: how many sources an answer gets, what the model reads of them, when to refuse."""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_SCOPES = ("section", "chunk")
SYNTHESES = ("copies", "free")


@dataclass(frozen=True)
class AnswerConfig:
    """How many sources an answer gets and when to refuse without asking the model.

    The gate's thresholds (``min_confidence``, ``min_coverage``) were calibrated on the collection's
    dev questions (eval/collection_dev.jsonl), the answer checks' (``min_grounding``,
    ``refuse_below``, ``en_strong_similarity``, ``related_share``) on the seed's (eval/dev.jsonl)
    with the bundled model; ``study-assistant eval`` shows their effect on refusal accuracy and
    false refusals.
    """

    k: int = 3  # sections retrieved and given to the model as numbered sources (see related_share)
    min_confidence: float = 0.05  # retrieval confidence (share of the query's terms found in the
    # sources) below this: refuse without the model
    min_coverage: float = 0.10  # a Chinese question whose evidence coverage (its terms' weight found
    # in the sources, rare terms weighing most) is below this is refused without the model. On
    # eval/collection_dev.jsonl 0.10 refuses "区块链…" (0.094), 1 of the 7 out-of-collection questions
    # that name nothing unknown, and 1 of 232 covered ones; 0.14 would also refuse "红烧肉…" (0.134) on
    # dev but refused a covered follow-up of the held-out set and no more of its uncovered ones, so
    # 0.10 stays: colloquial words the notes never use ("用大白话说", "那反过来呢") lower a covered
    # question's coverage, most on a small corpus
    min_grounding: float = 0.6  # a synthesis with a smaller share of its terms in the sources is doubtful
    refuse_below: float = 0.3  # a doubtful answer (ungrounded, or the model refused) under this
    # retrieval confidence becomes a refusal; above it, the quoted key sentences answer alone
    en_strong_similarity: float = 0.30  # an English question whose top section has at least this
    # cosine similarity counts as strongly retrieved for the rule above, whatever its term overlap
    # (English words rarely occur in Chinese notes)
    refuse_unknown_names: bool = True  # refuse without the model a question naming a term the corpus
    # never mentions ("Focal Loss里的gamma…", "How does PCA…")
    source_scope: str = "section"  # what a source's text is drawn from: "section" (the retrieved
    # section's whole text) or "chunk" (only the chunk that matched); a section holds more of the
    # answer's key points
    source_chars: int = 600  # longest source text in the prompt, in characters (0 = whole): it keeps
    # its first sentence and those nearest the question
    answer_when_confident: bool = True  # under strong retrieval, where a refusal from the model would
    # be replaced by the quotes anyway, bar the refusal sentence from the reply's opening (a backend
    # with opening bans): the small model refused covered questions there far more than uncovered ones
    related_share: float = 0.45  # a retrieved section scoring under this share of the top one's is
    # not given to the model (0 = all k are): the model otherwise copies from an unrelated section.
    # Calibrated on retrieval.fusion = "score"
    synthesis: str = "copies"  # what of the model's reply is shown: "copies", its clauses that copy
    # (or nearly copy) a source clause and change nothing it says, the model selecting and ordering
    # the notes' own words; "free", every clause but those that contradict a source (a term swapped,
    # a negation flipped, a number changed). On 216 hand-labelled answers a line a reader marked
    # contradicting stays in 0.065 of them with "free" and 0.032 with "copies", and no wrong line
    # stays (benchmarks/answer_designs.py --labels)
    quote_sentences: int = 4  # key sentences quoted from the top section, and from the first other one
    # cited (``notes_first``: up to half as many, under the synthesis) (0 = none)
    quote_chars: int = 300  # at most this many characters of quotes
    alone_quote_sentences: int = 6  # the same limits when the quotes answer alone (no synthesis shown:
    alone_quote_chars: int = 450  # the model refused or drifted, or an English reply copied nothing):
    # they get the synthesis's room. On the collection dev replay 6/450 against 4/300: key-point
    # recall 0.561 -> 0.589, rule-judged correct 0.583 -> 0.600; 8/600 added nothing more
    notes_first: bool = True  # when retrieval is strong (the quotes would answer even if the model
    # failed), the top section's key sentences are shown at once, before the model has read its
    # prompt, and its synthesis follows under them; lines that only repeat them are not shown.
    # Under weak retrieval the model may still refuse, so the quotes come after it. On the CPU the
    # model reads a ~900-token prompt for ~6 s before its first word
    quote_lists: bool = True  # a question asking for methods, kinds or steps ("有哪些", "怎么解决",
    # "what are the ways") gets the section's matching list first, as one quoted line of its items
    max_question_chars: int = 2000  # a longer question is cut to this before search and the model

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"answer k should be positive, got {self.k}")
        for name in ("min_confidence", "min_coverage", "min_grounding", "refuse_below", "en_strong_similarity", "related_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} should be in [0, 1], got {getattr(self, name)}")
        if self.source_scope not in SOURCE_SCOPES:
            raise ValueError(f"source_scope should be one of {SOURCE_SCOPES}, got {self.source_scope!r}")
        if self.synthesis not in SYNTHESES:
            raise ValueError(f"synthesis should be one of {SYNTHESES}, got {self.synthesis!r}")
        if self.source_chars < 0:
            raise ValueError(f"source_chars should be >= 0, got {self.source_chars}")
        if min(self.quote_sentences, self.quote_chars, self.alone_quote_sentences, self.alone_quote_chars) < 0:
            raise ValueError(f"quote limits should be >= 0, got {self.quote_sentences}, {self.quote_chars}, "
                             f"{self.alone_quote_sentences}, {self.alone_quote_chars}")
        if self.max_question_chars < 1:
            raise ValueError(f"max_question_chars should be positive, got {self.max_question_chars}")
