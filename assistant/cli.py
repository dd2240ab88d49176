"""``study-assistant``: build and inspect the index, search, evaluate.

Examples:

    study-assistant index build --corpus notes/
    study-assistant search "正负样本不平衡怎么办" --k 3
    study-assistant search "Why does L1 give sparse weights?" --json
    study-assistant eval --questions eval/heldout.jsonl --out reports/heldout.json --retrieval-only
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict

from assistant.config import Config

log = logging.getLogger("study_assistant")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.handler(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file (defaults are documented in README.md)")
    common.add_argument("--corpus", help="a .md/.txt file or a folder of them (default: the bundled seed corpus)")
    common.add_argument("--data-dir", help="where indexes and models are kept (default: $STUDY_ASSISTANT_HOME "
                        "or ~/.cache/study-assistant)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    parser = argparse.ArgumentParser(
        prog="study-assistant",
        description="Offline study assistant for machine-learning interview questions.",
        epilog=__doc__.split("Examples:", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=lambda args: parser.print_help() or 0, verbose=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    index = commands.add_parser("index", help="build or describe the search index")
    index_commands = index.add_subparsers(title="index commands", metavar="ACTION", required=True)
    build = index_commands.add_parser("build", parents=[common], help="build the index (reused when up to date)")
    build.add_argument("--rebuild", action="store_true", help="build even if a matching index is saved")
    build.set_defaults(handler=cmd_index_build)
    info = index_commands.add_parser("info", parents=[common], help="show what the index holds")
    info.set_defaults(handler=cmd_index_info)

    search = commands.add_parser("search", parents=[common], help="find the sections that answer a query",
                                 description="Find the question sections that best match QUERY.")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--k", type=int, help="number of sections (default 5)")
    search.add_argument("--mode", choices=("hybrid", "dense", "bm25"), help="retriever (default hybrid)")
    search.add_argument("--json", action="store_true", help="print hits as JSON")
    search.set_defaults(handler=cmd_search)

    evaluate = commands.add_parser("eval", parents=[common], help="evaluate on a question set",
                                   description="Score retrieval (and, later, answers) on a JSONL question set.")
    evaluate.add_argument("--questions", required=True, help="JSONL question file (see ARCHITECTURE.md)")
    evaluate.add_argument("--out", required=True, help="report path (.json); .md and .png are written beside it")
    evaluate.add_argument("--retrieval-only", action="store_true", help="score retrieval only")
    evaluate.add_argument("--mode", choices=("hybrid", "dense", "bm25"), help="retriever (default hybrid)")
    evaluate.set_defaults(handler=cmd_eval)
    return parser


def load_config(args) -> Config:
    config = Config.load(args.config).with_overrides(
        **{"corpus.path": args.corpus, "data_dir": args.data_dir},
    )
    overrides = {"retrieval.k": getattr(args, "k", None), "retrieval.mode": getattr(args, "mode", None)}
    return config.with_overrides(**overrides)


def cmd_index_build(args) -> int:
    from assistant.indexing import open_search_index

    started = time.perf_counter()
    index = open_search_index(load_config(args), rebuild=args.rebuild)
    info = index.info()
    print(f"Index ready in {time.perf_counter() - started:.1f} s: {info['n_sections']} sections, "
          f"{info['n_chunks']} chunks from {info['n_files']} file(s), encoder {info['encoder']}.")
    return 0


def cmd_index_info(args) -> int:
    from assistant.indexing import open_search_index

    info = open_search_index(load_config(args)).info()
    info.pop("files", None)
    print(json.dumps(info, ensure_ascii=False, indent=2))
    return 0


def cmd_search(args) -> int:
    from index import EmptyQueryError

    from assistant.indexing import open_search_index

    if not args.query.strip():
        raise UsageError("The query is empty: type a question or some keywords.")
    if args.k is not None and args.k < 1:
        raise UsageError(f"--k should be positive, got {args.k}")
    index = open_search_index(load_config(args))
    try:
        hits = index.search(args.query)
    except EmptyQueryError as err:
        raise UsageError(str(err)) from None
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return 0
    for rank, hit in enumerate(hits, start=1):
        scores = f"fused {hit.score:.4f}, dense {_fmt(hit.dense_score)}, bm25 {_fmt(hit.bm25_score)}"
        print(f"[{rank}] {hit.chunk.doc} #{hit.chunk.number} {hit.chunk.title}  ({scores})")
        print("    " + hit.chunk.text[:200].replace("\n", " ") + ("…" if len(hit.chunk.text) > 200 else ""))
    return 0


def cmd_eval(args) -> int:
    from assistant.evaluation import evaluate_retrieval, load_questions
    from assistant.followup import retrieval_query
    from assistant.indexing import open_search_index
    from assistant.report import write_report

    if not args.retrieval_only:
        raise UsageError("Answer evaluation needs the local LLM, which is not wired in yet: pass --retrieval-only.")
    config = load_config(args)
    questions = load_questions(args.questions)
    index = open_search_index(config)
    k = max(config.retrieval.k, 5)

    def retrieve(item):
        query = retrieval_query(item.question, list(item.history))
        return [hit.section_ref for hit in index.search(query, k=k)]

    metrics, records = evaluate_retrieval(questions, retrieve)
    report = {
        "retrieval": metrics,
        "per_question": records,
        "config": {
            "questions": args.questions,
            "corpus": str(config.corpus.path or "bundled seed corpus"),
            "mode": config.retrieval.mode,
            "encoder": index.manifest.get("encoder"),
            "chunking": index.manifest.get("chunking"),
            "retrieval": asdict(config.retrieval),
        },
    }
    paths = write_report(report, args.out)
    print(f"hit@1 {metrics['hit@1']:.3f}  hit@3 {metrics['hit@3']:.3f}  hit@5 {metrics['hit@5']:.3f}  "
          f"MRR {metrics['mrr']:.3f}  (n={metrics['n']})")
    print("Wrote " + ", ".join(str(p) for p in paths))
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _setup_logging(verbose: bool) -> None:
    """Our own progress messages at INFO on stderr; other libraries only when they warn."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s", stream=sys.stderr)
    for ours in ("corpus", "index", "assistant", "ui", "study_assistant"):
        logging.getLogger(ours).setLevel(logging.DEBUG if verbose else logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
