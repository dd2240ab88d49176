"""Time to first token of the assistant's real answers: retrieval, the product prompt (system
prompt, top-k sources, question) and the first streamed piece, on typical dev questions.

    python benchmarks/answer_latency.py                       # 15 dev questions, 4 settings
    python benchmarks/answer_latency.py --questions 30 --out benchmarks/results/answer_latency.json
    python benchmarks/answer_latency.py --config k2.toml --out …   # e.g. two sources ([answer] k = 2)
    python benchmarks/answer_latency.py --source-chars 0,400 --out …   # whole vs trimmed sources
    python benchmarks/answer_latency.py --source-chars chunk:400,section:600 --out …   # chunk vs section extracts

Settings, interleaved question by question so that machine drift hits each alike: the system
prompt's KV cache (``llm.prefix_cache``) on and off (or, with --source-chars, the sources'
lengths), each with the LoRA adapter on and off. One
warm-up answer per setting first (the first one also computes the system prompt's cache). Each
answer stops after --new-tokens tokens: only the first piece is timed. Prints a Markdown table
(medians, min-max) and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=15, help="covered dev questions to time (in file order)")
    parser.add_argument("--file", default=str(REPO / "eval" / "dev.jsonl"))
    parser.add_argument("--new-tokens", type=int, default=4, help="tokens generated per answer")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "answer_latency.json"))
    parser.add_argument("--config", default=None, help="TOML config file, e.g. one with [answer] k = 2")
    parser.add_argument("--source-chars", default="", metavar="N,M,…",
                        help="time these answer.source_chars side by side (system-prompt cache on) instead of "
                             "the cache on and off; 0 = whole; SCOPE:N also sets answer.source_scope "
                             "(section or chunk), e.g. chunk:400,section:600")
    args = parser.parse_args()

    import torch

    from assistant import StudyAssistant
    from assistant.evaluation import load_questions
    from assistant.llm.base import GenerationOptions
    from assistant.llm.transformers_backend import TransformersChatModel as HFGenerator
    from assistant.answer.prompt import build_messages
    from assistant.answer.sources import prompt_sources

    assistant = StudyAssistant.from_config(args.config, progress=False)
    base = assistant.model
    adapters = (True, False) if base.adapter else (False,)
    if args.source_chars:  # source lengths side by side, system-prompt cache on
        chosen = [(spec.rpartition(":")[0] or assistant.config.source_scope, int(spec.rpartition(":")[2]))
                  for spec in args.source_chars.split(",")]
        settings = {(f"{scope} sources {n or 'whole'}" + (" chars" if n else ""), a): (base, (n, scope))
                    for scope, n in chosen for a in adapters}
    else:  # system-prompt cache on and off
        whole = HFGenerator(base.model, base.tokenizer, dataclasses.replace(base.config, prefix_cache=False),
                            base.device, base.lora)
        settings = {(cache, a): (generator, (assistant.config.source_chars, assistant.config.source_scope))
                    for cache, generator in (("cached", base), ("whole", whole)) for a in adapters}
    items = [q for q in load_questions(args.file) if q.covered and not q.history][: args.questions]

    def first_piece(generator, source: tuple[int, str], question: str, adapter: bool) -> tuple[float, int]:
        started = time.perf_counter()
        hits = assistant.index.search(question, k=assistant.config.k)
        messages = build_messages(question, prompt_sources(assistant.index, question, hits, *source))
        pieces = generator.stream(messages, GenerationOptions(adapter=adapter, max_new_tokens=args.new_tokens))
        next(pieces)
        elapsed = time.perf_counter() - started
        pieces.close()  # stops the generation at its next step…
        base._worker.submit(lambda: None).result()  # …which ends before the next timing starts (one
        # generation thread per process: no run overlaps another)
        return elapsed, generator.encode(messages)["input_ids"].shape[1]

    for (name, adapter), (generator, chars) in settings.items():  # warm-up: kernels, the cached prefixes
        first_piece(generator, chars, items[0].question, adapter)
    times = {key: [] for key in settings}
    tokens = {key: [] for key in settings}
    for item in items:
        for key, (generator, chars) in settings.items():
            elapsed, n = first_piece(generator, chars, item.question, key[1])
            times[key].append(elapsed)
            tokens[key].append(n)
        print(f"  {item.id}: " + ", ".join(f"{c}/{'lora' if a else 'base'} {times[(c, a)][-1]:.2f} s ({tokens[(c, a)][-1]} tokens)"
                                           for c, a in settings), flush=True)

    system_tokens = len(next(iter(base._prefixes))[1])  # keys: (adapter on/off, system prompt ids)
    rows = {f"{name}, adapter {'on' if adapter else 'off'}": {
        "ttft_median_s": statistics.median(values), "ttft_min_s": min(values), "ttft_max_s": max(values),
        "prompt_tokens_median": statistics.median(tokens[(name, adapter)]), "ttft_s": values}
        for (name, adapter), values in times.items()}
    result = {
        "machine": {"cpu": platform.machine(), "threads": torch.get_num_threads(), "torch": torch.__version__},
        "questions": [item.id for item in items], "k": assistant.config.k,
        "prompt_tokens_median": statistics.median(next(iter(tokens.values()))),
        "system_prompt_tokens": system_tokens, "new_tokens": args.new_tokens, "settings": rows,
    }
    print(f"\n{len(items)} dev questions, {assistant.config.k} sources, system prompt {system_tokens} tokens, "
          f"{torch.get_num_threads()} threads.\n")
    print("| setting | prompt tokens, median | time to first token, median s | min–max s |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['prompt_tokens_median']:.0f} | {row['ttft_median_s']:.2f} | "
              f"{row['ttft_min_s']:.2f}–{row['ttft_max_s']:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
