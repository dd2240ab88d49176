"""GPU check for a lent accelerator: the Qwen2.5-0.5B architecture with random weights (the real
491 MB model cannot be carried there), LoRA training throughput and memory, decode speed.

    bash benchmarks/gpu_check.sh            # on the GPU machine; prints one Markdown table
    python benchmarks/gpu_check.py --device cpu --steps 2 --new-tokens 8   # a dry run anywhere

Measures, in bf16 on CUDA: a LoRA training step (batch 4 x 1,024 tokens, the adapter settings
`study-assistant train-lora` uses) in tokens/s and peak memory; the estimated time for 2 epochs
of the corpus's ~130 examples; batch-1 greedy decode tokens/s; batched (16) generation tokens/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QWEN25_05B = dict(  # Qwen2.5-0.5B-Instruct's config.json (architecture only)
    vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
    num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
    tie_word_embeddings=True, hidden_act="silu", bos_token_id=151643, eos_token_id=151645,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=10, help="timed LoRA steps (after 2 warm-up steps)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--examples", type=int, default=130, help="corpus examples, for the epoch estimate")
    parser.add_argument("--out", default="", help="also write the results as JSON here")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from assistant.lora import LoraTrainingConfig, add_lora

    torch.manual_seed(0)
    dtype = torch.bfloat16
    cuda = args.device == "cuda"
    model = AutoModelForCausalLM.from_config(Qwen2Config(**QWEN25_05B), dtype=dtype).to(args.device)
    rows = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
            "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1)}

    def sync():
        if cuda:
            torch.cuda.synchronize()

    # batch-1 greedy decode, then batched generation (random weights: EOS banned via min_new_tokens)
    model.eval()
    prompt = torch.randint(0, 150000, (1, 512), device=args.device)
    gen = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        model.generate(prompt, **{**gen, "max_new_tokens": 8, "min_new_tokens": 8})
        sync()
        started = time.perf_counter()
        model.generate(prompt, **gen)
        sync()
        rows["decode_b1_tok_s"] = round(args.new_tokens / (time.perf_counter() - started), 1)
        batch = prompt.repeat(16, 1)
        started = time.perf_counter()
        model.generate(batch, **gen)
        sync()
        rows["generate_b16_tok_s"] = round(16 * args.new_tokens / (time.perf_counter() - started), 1)

    # LoRA training steps
    lora = add_lora(model, LoraTrainingConfig())
    lora.train()
    params = [p for p in lora.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=2e-4)
    ids = torch.randint(0, 150000, (args.batch, args.seq), device=args.device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for step in range(args.steps + 2):
        if step == 2:
            sync()
            started = time.perf_counter()
        loss = lora(input_ids=ids, labels=ids).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
    sync()
    seconds = (time.perf_counter() - started) / args.steps
    rows["lora_step_s"] = round(seconds, 3)
    rows["lora_train_tok_s"] = round(args.batch * args.seq / seconds, 1)
    rows["lora_peak_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None
    rows["corpus_2_epochs_s_est"] = round(2 * args.examples / args.batch * seconds, 1)

    print("| measure | value |\n|---|---|")
    for key, value in rows.items():
        print(f"| {key} | {value} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
