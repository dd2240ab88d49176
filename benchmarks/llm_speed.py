"""CPU speed of the bundled LLM on one realistic RAG prompt: transformers fp32 / bf16 / dynamic qint8
side by side with llama.cpp (llama-cpp-python) on the same Q4_K_M GGUF file.

    python benchmarks/llm_speed.py                         # model from the data dir (converted once)
    python benchmarks/llm_speed.py --fresh-data-dir        # also time the first conversion (~1 min)
    python benchmarks/llm_speed.py --runs 1 --variants bf16
    pip install llama-cpp-python   # benchmark-only peer (builds from source, ~15 min on 2 cores)

The prompt (~850 tokens) is a Chinese system prompt, numbered sections of
corpus/data/ml_basics_qa.md and a question, through the tokenizer's chat template. Per variant:
prefill tokens/s (one forward pass over the prompt), time to first token and decode tokens/s of a
greedy generation of --new-tokens tokens (EOS suppressed so every run decodes the same count).
Medians of --runs runs after one warm-up; load s includes the quantization. Prints a Markdown table and writes
benchmarks/results/llm_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import statistics
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus" / "data" / "ml_basics_qa.md"
SYSTEM = (
    "你是一名机器学习面试辅导助手。你只能依据用户消息中 <资料> 标签内给出的编号资料来回答问题。"
    "先用一两句话直接回答，再列出关键要点，每个要点后用方括号标注来源编号，例如 [1]。"
    "如果资料不能回答这个问题，就说资料中没有相关内容。回答要简洁，不超过 200 字。"
)
QUESTION = "为什么正则化可以防止过拟合？L1 和 L2 正则化有什么区别？"
SECTIONS = (14, 4, 3, 2, 16)  # question numbers in the corpus file, added until the target length
VARIANTS = ("fp32", "bf16", "bf16+lookup", "fp32-qint8", "fp32-qint8+lookup", "llama.cpp")
LOOKUP = 10  # prompt_lookup_num_tokens of the "+lookup" variants (the assistant's default prompt_lookup)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_prompt(tokenizer, target_tokens: int) -> list[int]:
    """Chat-template ids of system prompt + numbered corpus sections + question, about target_tokens long."""
    text = CORPUS.read_text("utf-8")
    pieces = re.split(r"^#{1,3} (?=\d+\.)", text, flags=re.M)[1:]  # "7.标题\n正文…", one per question
    sections = {int(piece.split(".", 1)[0]): piece.strip() for piece in pieces}

    def ids_for(chosen):
        sources = "\n\n".join(f"[{i}] {sections[n]}" for i, n in enumerate(chosen, start=1))
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"<资料>\n{sources}\n</资料>\n\n问题：{QUESTION}"}]
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                             return_dict=True)["input_ids"]

    chosen, ids = [], ids_for([])
    for number in SECTIONS:
        longer = ids_for(chosen + [number])
        if len(ids) >= target_tokens or abs(len(longer) - target_tokens) > abs(len(ids) - target_tokens):
            break
        chosen, ids = chosen + [number], longer
    return ids


def load_variant(path: str, variant: str):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if variant.startswith("bf16") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    if variant.startswith("fp32-qint8"):
        with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def time_llama_cpp(gguf: Path, ids: list[int], new_tokens: int, runs: int, threads: int) -> dict:
    """The same measurements with llama.cpp on the bundled GGUF (its own Q4_K_M kernels), greedy."""
    from llama_cpp import Llama

    started = time.perf_counter()
    llm = Llama(model_path=str(gguf), n_ctx=len(ids) + new_tokens + 16, n_threads=threads, n_batch=512, verbose=False)
    load_s = time.perf_counter() - started
    eos = llm.token_eos()

    def greedy(n):  # -> (token ids, time of the first); EOS banned so every run decodes n tokens
        llm.reset()
        out, first = [], None
        for token in llm.generate(ids, top_k=1, temp=0.0, logits_processor=[_ban(eos)]):
            first = first or time.perf_counter()
            out.append(token)
            if len(out) == n:
                return out, first

    greedy(4)  # warm-up
    prefill, ttft, decode, reply = [], [], [], None
    for _ in range(runs):
        llm.reset()
        started = time.perf_counter()
        llm.eval(ids)
        prefill.append(len(ids) / (time.perf_counter() - started))
        started = time.perf_counter()
        reply, first = greedy(new_tokens)
        ended = time.perf_counter()
        ttft.append(first - started)
        decode.append((len(reply) - 1) / (ended - first))
    return {"load_s": load_s, "prefill_tok_s": statistics.median(prefill), "ttft_s": statistics.median(ttft),
            "decode_tok_s": statistics.median(decode), "runs": {"prefill_tok_s": prefill, "ttft_s": ttft,
                                                                "decode_tok_s": decode}, "reply_ids": reply}


def _ban(token: int):
    def process(_input_ids, scores):
        scores[token] = -float("inf")
        return scores
    return process


def time_variant(model, tokenizer, ids: list[int], new_tokens: int, runs: int, lookup: int = 0) -> dict:
    """Medians over runs of prefill tok/s, time to first token and decode tok/s; plus the reply."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    class FirstTokenClock(BaseStreamer):
        """Notes when generate hands out its first new tokens (the first put() is the prompt) and how
        many came at once (prompt-lookup decoding can accept several drafted tokens in its first step)."""

        def __init__(self):
            self.puts, self.first, self.first_count = 0, None, 0

        def put(self, value):
            self.puts += 1
            if self.puts == 2:
                self.first, self.first_count = time.perf_counter(), value.numel()

        def end(self):
            pass

    input_ids = torch.tensor([ids])  # (1, prompt tokens)
    gen = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
               pad_token_id=tokenizer.pad_token_id)
    if lookup:  # prompt-lookup decoding: drafts copied from the prompt, verified in one forward pass
        gen["prompt_lookup_num_tokens"] = lookup
    prefill, ttft, decode, reply = [], [], [], None
    with torch.inference_mode():
        model.generate(input_ids, **{**gen, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
        for _ in range(runs):
            started = time.perf_counter()
            model(input_ids, use_cache=True)
            prefill.append(len(ids) / (time.perf_counter() - started))

            clock = FirstTokenClock()
            started = time.perf_counter()
            out = model.generate(input_ids, streamer=clock, **gen)
            ended = time.perf_counter()
            n_new = out.shape[1] - len(ids)
            ttft.append(clock.first - started)
            decode.append((n_new - clock.first_count) / (ended - clock.first))  # tokens after the first step
            reply = out[0, len(ids):].tolist()
    return {"prefill_tok_s": statistics.median(prefill), "ttft_s": statistics.median(ttft),
            "decode_tok_s": statistics.median(decode), "runs": {"prefill_tok_s": prefill, "ttft_s": ttft,
                                                                "decode_tok_s": decode}, "reply_ids": reply}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="data dir holding the converted model (default: the usual one)")
    parser.add_argument("--fresh-data-dir", action="store_true", help="convert into a temp data dir, timed")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {VARIANTS}")
    parser.add_argument("--target-tokens", type=int, default=850, help="prompt length to aim for")
    parser.add_argument("--new-tokens", type=int, default=64, help="greedy tokens to decode")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "llm_speed.json"))
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.config import default_data_dir
    from assistant.llm.model_files import BUNDLED, CACHE_NAME, assemble_gguf, find_bundled_parts, resolve_model

    torch.set_num_threads(args.threads)
    temp = tempfile.TemporaryDirectory() if args.fresh_data_dir else None
    data_dir = Path(temp.name if temp else args.data_dir or default_data_dir())
    cached = (data_dir / "models" / CACHE_NAME / "source.json").is_file()
    started = time.perf_counter()
    path = resolve_model(BUNDLED, data_dir)
    resolve = {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(), "converted": not cached}
    started = time.perf_counter()
    resolve_model(BUNDLED, data_dir)
    resolve["cached_resolve_s"] = time.perf_counter() - started

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(path)
    loads = {"tokenizer_s": time.perf_counter() - started}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        started = time.perf_counter()
        AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        loads[f"model_{name}_s"] = time.perf_counter() - started

    ids = build_prompt(tokenizer, args.target_tokens)
    print(f"Prompt: {len(ids)} tokens; {args.new_tokens} new tokens; {args.threads} threads; median of {args.runs}.")
    results = {}
    for variant in args.variants.split(","):
        if variant == "llama.cpp":
            with tempfile.TemporaryDirectory() as tmp:
                gguf = assemble_gguf(find_bundled_parts(), Path(tmp) / "model.gguf", progress=False)
                results[variant] = time_llama_cpp(gguf, ids, args.new_tokens, args.runs, args.threads)
            results[variant]["reply"] = tokenizer.decode(results[variant]["reply_ids"], skip_special_tokens=True)
            print(f"  {variant}: {results[variant]['decode_tok_s']:.2f} tok/s decode; "
                  f"reply {results[variant]['reply'][:60]!r}", flush=True)
            continue
        started = time.perf_counter()
        model = load_variant(path, variant)
        results[variant] = {"load_s": time.perf_counter() - started,
                            **time_variant(model, tokenizer, ids, args.new_tokens, args.runs,
                                           LOOKUP if variant.endswith("+lookup") else 0)}
        results[variant]["reply"] = tokenizer.decode(results[variant]["reply_ids"], skip_special_tokens=True)
        print(f"  {variant}: {results[variant]['decode_tok_s']:.2f} tok/s decode; "
              f"reply {results[variant]['reply'][:60]!r}", flush=True)
        del model

    reference = results.get("bf16", {}).get("reply_ids")  # the default, unquantized
    lines = ["| variant | prefill tok/s | time to first token s | decode tok/s | tokens equal to bf16's | load s |",
             "|---|---|---|---|---|---|"]
    for variant, r in results.items():
        prefix = next((i for i, (a, b) in enumerate(zip(r["reply_ids"], reference or [])) if a != b), len(reference or []))
        same = "—" if reference is None else f"{prefix}/{len(reference)}"  # greedy: equal until the first difference
        lines.append(f"| {variant} | {r['prefill_tok_s']:.0f} | {r['ttft_s']:.2f} | {r['decode_tok_s']:.2f} | {same} "
                     f"| {r['load_s']:.2f} |")
    peer = results.get("llama.cpp")
    if peer:
        lines += ["", "| variant | prefill ÷ llama.cpp | decode ÷ llama.cpp |", "|---|---|---|"]
        lines += [f"| {v} | {r['prefill_tok_s'] / peer['prefill_tok_s']:.2f}× | "
                  f"{r['decode_tok_s'] / peer['decode_tok_s']:.2f}× |" for v, r in results.items() if v != "llama.cpp"]
    print("\n".join(lines))
    print(f"resolve_model('bundled'), converted={resolve['converted']}: {resolve['seconds']:.1f} s (peak RSS {resolve['peak_rss_mb']:.0f} MB), "
          f"cached {resolve['cached_resolve_s'] * 1000:.1f} ms; load: " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items()))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__},
              "prompt_tokens": len(ids), "new_tokens": args.new_tokens, "runs": args.runs,
              "resolve": resolve, "load": loads, "variants": results, "table": "\n".join(lines)}
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"Wrote {out}")
    if temp:
        temp.cleanup()


if __name__ == "__main__":
    main()
