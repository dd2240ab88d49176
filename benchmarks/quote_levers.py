"""Key-point recall of the quotes an answer opens with, without the model.

    python benchmarks/quote_levers.py                                   # the collection's dev set
    python benchmarks/quote_levers.py --corpus seed --questions eval/dev.jsonl

Under strong retrieval the answer shows the top section's key sentences before the model has read
its prompt (``notes_first``); they depend on the question and the retrieval alone, so every
covered question of a set can be scored in a minute. Scored here with the quotes as built today
and with the room the question's sentences leave not filled with the section's others (``fill``
off), on every covered question whose quotes come first and on those whose top section is a gold
one (what the quotes can do when retrieval is right), English questions apart. Where no quote
comes first the answer's fallback, the top section's opening, is scored.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.answer import quotes  # noqa: E402
from assistant.answer.followup import retrieval_query  # noqa: E402
from assistant.answer.gate import retrieval_gate, weak_retrieval  # noqa: E402
from assistant.answer.sources import related_hits  # noqa: E402
from assistant.config import Config  # noqa: E402
from assistant.evaluation import gold_matches, key_point_recall, load_questions  # noqa: E402
from assistant.indexing import open_search_index  # noqa: E402
from assistant.text import question_language  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=None, help="corpus name or path (default: the bundled collection)")
    parser.add_argument("--questions", default=str(REPO / "eval" / "collection_dev.jsonl"))
    args = parser.parse_args()
    config = Config().with_overrides(**({"corpus.path": args.corpus} if args.corpus else {}))
    index = open_search_index(config, progress=False)
    answer = config.answer
    shown = []  # (question, hits, terms) of every covered question whose quotes come first
    for question in (q for q in load_questions(args.questions) if q.covered):
        query = retrieval_query(question.question, list(question.history))
        hits = index.search(query, k=answer.k)
        terms = set(index.tokenizer.tokenize_query(query))
        gate = retrieval_gate(index, answer, question.question, terms, hits)
        hits = related_hits(hits, answer.related_share)
        if gate.passed and not weak_retrieval(answer, gate.confidence, hits, question_language(question.question)):
            shown.append((question, hits, terms))

    def score(label: str) -> None:
        rows = []
        for question, hits, terms in shown:
            picked = quotes.quoted_sentences(index, answer, terms, hits, [1], "", question.question) \
                or quotes.lead_quotes(index, answer, hits)
            text = quotes.compose("", picked, question_language(question.question))
            gold = any(gold_matches(g, hits[0].section_ref) for g in question.relevant)
            rows.append((key_point_recall(text, question.key_points), gold, question.type == "english", len(text)))

        def mean(keep) -> str:
            values = [recall for recall, gold, english, _ in rows if keep(gold, english)]
            return f"{statistics.mean(values):.3f} ({len(values)})" if values else "-"

        print(f"| {label} | {mean(lambda g, e: True)} | {mean(lambda g, e: g)} | {mean(lambda g, e: g and e)} "
              f"| {mean(lambda g, e: g and not e)} | {statistics.mean(r[3] for r in rows):.0f} |")

    print("| quotes | all | top section gold | … English | … Chinese | mean characters |")
    print("|---|---|---|---|---|---|")
    score("as built (filled)")
    built = quotes.key_sentences
    quotes.key_sentences = lambda *args, **kwargs: built(*args, **{**kwargs, "fill": False})
    try:
        score("not filled")
    finally:
        quotes.key_sentences = built


if __name__ == "__main__":
    main()
