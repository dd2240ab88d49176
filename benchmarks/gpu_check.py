"""GPU check for a lent accelerator: the project's own generation and LoRA training code on CUDA,
with the Qwen2.5-0.5B architecture and random weights (the real 491 MB model cannot be carried
there: 64 MiB limit) and the real tokenizer, prompts and training examples.

    # here, once: write the assets the GPU machine cannot build (no faiss/jieba/bm25s there)
    python benchmarks/gpu_check.py --prepare .gpu_assets
    # there (device tool, carry .gpu_assets): one Markdown table, JSON in $OUT
    bash benchmarks/gpu_check.sh
    # a dry run anywhere, on a tiny model
    python benchmarks/gpu_check.py --assets .gpu_assets --device cpu --tiny

Measures, in bf16 on CUDA:
- ``HFGenerator`` (the product's generator) on a real RAG prompt: time to first token and decode
  tokens/s, plain greedy and with prompt lookup (the default);
- plain ``model.generate`` batch-1 decode tokens/s and batch-16 generation tokens/s;
- ``train_lora`` (what ``study-assistant train-lora`` runs) on the corpus's real SFT examples for the
  default 2 epochs: seconds, peak memory, and the held-out reference loss pass;
- the saved adapter reloads with identical logits, and switched off equals the base model;
- reranking's reading (``continuation_logprobs`` over ten sections' openings; after ``warm_up``
  when the ``stream`` part ran first, as by default): seconds per question, and its
  log-probabilities against a plain forward pass.
Random weights make the losses and the generated text meaningless; speeds and memory are real.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")
QWEN25_05B = dict(  # Qwen2.5-0.5B-Instruct's config.json (architecture only)
    vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
    num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
    tie_word_embeddings=True, hidden_act="silu", bos_token_id=151643, eos_token_id=151645,
)
TINY = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2)


def prepare(out: Path, config_path: str | None) -> None:
    """Write tokenizer/config files and the SFT + held-out reference examples as JSON."""
    from assistant.config import Config
    from assistant.evaluation import load_questions
    from assistant.indexing import open_search_index
    from assistant.training.trainer import LoraTrainingConfig
    from assistant.training.examples import build_sft_examples, prompt_settings, reference_examples, training_answer
    from assistant.llm.model_files import resolve_model

    config = Config.load(config_path)
    index = open_search_index(config)
    prompt = prompt_settings(training_answer(config.answer))  # as train-lora builds them
    examples = build_sft_examples(index, **prompt, gate=config.answer, seed=LoraTrainingConfig().seed)
    reference = reference_examples(index, load_questions("eval/heldout.jsonl"), **prompt)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = Path(resolve_model(config.llm.model, config.data_path))
    for name in TOKENIZER_FILES:
        if (model_dir / name).exists():
            shutil.copy(model_dir / name, out / name)
    (out / "examples.json").write_text(json.dumps(
        {"train": [asdict(e) for e in examples], "reference": [asdict(e) for e in reference]},
        ensure_ascii=False), "utf-8")
    print(f"Wrote {len(examples)} training and {len(reference)} reference examples and the tokenizer to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", metavar="DIR", help="write the assets to DIR and stop")
    parser.add_argument("--config", default=None)
    parser.add_argument("--assets", default=".gpu_assets")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model and 8 examples (dry run)")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", default="stream,score,adapter,raw,train",
                        help="which parts to run (comma-separated; default all)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "gpu_check.json"),
                        help="also write the results as JSON here ('' = don't)")
    args = parser.parse_args()
    if args.prepare:
        prepare(Path(args.prepare), args.config)
        return

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    from assistant.llm.base import GenerationOptions
    from assistant.llm.settings import GenerationConfig
    from assistant.llm.transformers_backend import TransformersChatModel as HFGenerator
    from assistant.llm.adapters import load_adapter
    from assistant.training.trainer import LoraTrainingConfig, add_lora, train_lora
    from assistant.training.examples import SFTExample

    parts = set(args.parts.split(","))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    assets = Path(args.assets)
    cuda = args.device == "cuda"
    torch.manual_seed(0)
    model_config = Qwen2Config(**{**QWEN25_05B, **(TINY if args.tiny else {})})
    model_dir = Path("/tmp/gpu-check-model")
    model = AutoModelForCausalLM.from_config(model_config, dtype=torch.bfloat16)
    model.save_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(assets)
    tokenizer.save_pretrained(model_dir)
    data = json.loads((assets / "examples.json").read_text("utf-8"))
    train = [SFTExample(**e) for e in data["train"]]
    reference = [SFTExample(**e) for e in data["reference"]]
    if args.tiny:
        train, reference = train[:8], reference[:4]
    rows: dict = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
                  "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1)}
    del model

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def save(rows):  # after each part, so a run cut short still leaves its figures
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")

    def median(values):
        return sorted(values)[len(values) // 2]

    # 1. the product's generator (shipped decoding settings) on real RAG prompts of three lengths
    prompts = [e.messages[:2] for e in reference if e.kind != "refusal"][:3]
    generator = HFGenerator.load(str(model_dir), GenerationConfig(device=args.device, adapter="none",
                                                                  max_new_tokens=args.new_tokens))
    model = generator.model
    model.generation_config.min_new_tokens = args.new_tokens  # random weights: no early EOS
    rows["generator_dtype"] = str(model.dtype).removeprefix("torch.")
    rows["prompt_tokens"] = [int(generator.encode(m)["input_ids"].shape[1]) for m in prompts]
    generator.generate(prompts[0], GenerationOptions(max_new_tokens=2))  # CUDA/cuBLAS set-up

    def measure(gen: HFGenerator, name: str, **stream_options) -> None:
        ttfts, rates = [], []
        for messages in prompts + prompts[:1]:
            sync()
            started = time.perf_counter()
            first, pieces = None, 0
            for _ in gen.stream(messages, GenerationOptions(**stream_options)):
                first = first or time.perf_counter()
                pieces += 1
            sync()
            ttfts.append(round(first - started, 3))
            rates.append(round((args.new_tokens - 1) / max(time.perf_counter() - first, 1e-9), 1))
        rows[f"{name}_ttft_s"] = ttfts
        rows[f"{name}_decode_tok_s"] = rates
        save(rows)

    if "stream" in parts:
        measure(generator, "stream_dynamic_lookup")  # before warm_up: what `ask` gets on CUDA
        measure(HFGenerator(model, tokenizer, dataclasses.replace(generator.config, prompt_lookup=0), args.device),
                "stream_dynamic_plain")
        started = time.perf_counter()
        generator.warm_up()  # on CUDA: the static cache, compiled (serve and chat call it)
        rows["static_cache_on"] = generator.static_cache
        rows["static_cache_warm_up_s"] = round(time.perf_counter() - started, 1)
        measure(generator, "stream_static")

    if "score" in parts:  # what reranking costs per question: ten sections' openings read
        from assistant.answer.rerank import PROMPT

        leads = [e.messages[-1]["content"][:80] for e in reference[:10]]
        question = "过拟合是什么？怎么缓解？"
        generator.continuation_logprobs(PROMPT.format(lead=leads[0]), question)  # set-up
        times = []
        for _ in range(args.runs):
            sync()
            started = time.perf_counter()
            read = [generator.continuation_logprobs(PROMPT.format(lead=lead), question) for lead in leads]
            sync()
            times.append(time.perf_counter() - started)
        rows["rerank_read_10_sections_s"] = round(median(times), 3)
        prompt_ids = tokenizer(PROMPT.format(lead=leads[0]), return_tensors="pt").input_ids
        text_ids = tokenizer(question, return_tensors="pt", add_special_tokens=False).input_ids
        ids = torch.cat([prompt_ids, text_ids], 1).to(args.device)
        with torch.inference_mode():
            logits = model(ids, use_cache=False).logits[0, prompt_ids.shape[1] - 1 : -1].float().log_softmax(-1)
        plain = logits.gather(1, text_ids[0, :, None].to(logits.device))[:, 0]
        rows["rerank_read_vs_plain_forward_max_diff"] = round(float((plain - torch.tensor(read[0], device=plain.device))
                                                                    .abs().max()), 4)
        save(rows)

    if "adapter" in parts:  # a LoRA adapter attached (the bundled model's default), on and switched off
        lora_dir = Path("/tmp/gpu-check-untrained-adapter")
        peft_model = add_lora(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16), LoraTrainingConfig())
        peft_model.save_pretrained(str(lora_dir))
        del peft_model
        with_lora = HFGenerator.load(str(model_dir), GenerationConfig(device=args.device, adapter=str(lora_dir),
                                                                      max_new_tokens=args.new_tokens))
        with_lora.model.generation_config.min_new_tokens = args.new_tokens
        with_lora.generate(prompts[0], GenerationOptions(max_new_tokens=2))
        measure(with_lora, "stream_adapter_dynamic_lookup")
        started = time.perf_counter()
        with_lora.warm_up()
        rows["adapter_static_cache_on"] = with_lora.static_cache
        rows["adapter_static_cache_warm_up_s"] = round(time.perf_counter() - started, 1)
        measure(with_lora, "stream_adapter_static")
        started = time.perf_counter()
        measure(with_lora, "stream_adapter_off_static", adapter=False)  # the first call prepares that model
        rows["adapter_off_first_use_s_incl_4_answers"] = round(time.perf_counter() - started, 1)
        del with_lora
    messages = prompts[0]
    prompt = generator.encode(messages)["input_ids"]

    if "raw" in parts:
        # 2. plain generate, no streamer: batch-1 decode and batch-16 generation (EOS banned)
        gen = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                   pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        with torch.inference_mode():
            model.generate(prompt, **{**gen, "max_new_tokens": 8, "min_new_tokens": 8})
            times = []
            for _ in range(args.runs):
                sync()
                started = time.perf_counter()
                model.generate(prompt, **gen)
                sync()
                times.append(time.perf_counter() - started)
            rows["generate_b1_tok_s"] = round(args.new_tokens / median(times), 1)
            batch = prompt.repeat(16, 1)
            sync()
            started = time.perf_counter()
            model.generate(batch, attention_mask=torch.ones_like(batch), **gen)
            sync()
            rows["generate_b16_tok_s"] = round(16 * args.new_tokens / (time.perf_counter() - started), 1)
        save(rows)

        # 3. static KV cache, no streamer (transformers compiles the decoding step for it): batch-1 decode tokens/s
        try:
            times = []
            with torch.inference_mode():
                for _ in range(args.runs + 1):  # the first call compiles
                    sync()
                    started = time.perf_counter()
                    model.generate(prompt, cache_implementation="static", **gen)
                    sync()
                    times.append(time.perf_counter() - started)
            rows["generate_b1_static_compile_s"] = round(times[0], 1)
            rows["generate_b1_static_tok_s"] = round(args.new_tokens / median(times[1:]), 1)
        except Exception as err:  # a report, not a crash: the figures above are kept
            rows["generate_b1_static_error"] = f"{type(err).__name__}: {err}"[:300]
        save(rows)

    if "train" in parts:
        # 4. train_lora on the corpus's examples, the shipped settings (2 epochs), held-out loss pass
        model.train()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        adapter_dir = Path("/tmp/gpu-check-adapter")
        started = time.perf_counter()
        meta = train_lora(model, tokenizer, train, LoraTrainingConfig(), adapter_dir, device=args.device,
                          eval_examples=reference, progress=False)
        rows["train_examples"] = len(train)
        rows["train_lora_2_epochs_s"] = meta["training"]["seconds"]
        rows["train_lora_total_s_incl_eval_save"] = round(time.perf_counter() - started, 1)
        rows["train_steps"] = meta["training"]["steps"]
        rows["train_peak_memory_mb"] = meta["training"]["peak_memory_mb"]
        rows["train_loss_first_last"] = [meta["training"]["losses"][0], meta["training"]["losses"][-1]]
        save(rows)

        # 5. the saved adapter on CUDA: reload gives the trained logits; switched off equals the base
        model.eval()
        ids = prompt[:, :256]
        with torch.inference_mode():
            base_logits = model(input_ids=ids).logits
            with_adapter = load_adapter(model, adapter_dir)
            adapter_logits = with_adapter(input_ids=ids).logits
            again = load_adapter(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).to(args.device),
                                 adapter_dir)(input_ids=ids).logits
            with with_adapter.disable_adapter():
                off_logits = with_adapter(input_ids=ids).logits
        rows["adapter_changes_logits"] = bool((adapter_logits - base_logits).abs().max() > 0)
        rows["adapter_reload_identical"] = bool(torch.equal(adapter_logits, again))
        rows["adapter_off_equals_base"] = bool(torch.equal(off_logits, base_logits))

        save(rows)

    print("| measure | value |\n|---|---|")
    for key, value in rows.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
