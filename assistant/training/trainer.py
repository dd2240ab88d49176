"""Train and save a LoRA adapter (peft) for the answering LLM.

    config = LoraTrainingConfig(r=8, epochs=2)
    meta = train_lora(model, tokenizer, build_sft_examples(index), config, "adapters/mine", device="cpu")
    meta["training"]["losses"]      # training loss per optimiser step

``assistant.llm.adapters`` loads the result for answering.

The loss is computed on the reply tokens only (the prompt is masked), so the adapter learns how to
answer from the sources, not to reproduce them. LoRA goes on the attention and MLP projections,
never on lm_head or the embeddings.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.training.examples import SFTExample, dataset_hash

log = logging.getLogger(__name__)

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
METADATA = "training.json"  # written beside peft's adapter_config.json / adapter_model.safetensors
IGNORE = -100  # label of prompt tokens: no loss


@dataclass(frozen=True)
class LoraTrainingConfig:
    """LoRA shape and the optimisation schedule."""

    r: int = 8  # rank of the update matrices (8: a ~9 MB bf16 adapter for the 0.5B model)
    alpha: int = 16  # scaling = alpha / r
    dropout: float = 0.05  # dropout on the LoRA branch during training
    target_modules: tuple[str, ...] = TARGET_MODULES  # attention and MLP projections (not lm_head)
    top_layers: int = 8  # LoRA on the last N transformer layers only (0 = all): backward stops there,
    # which makes a CPU step ~2x cheaper; answer style and refusals are decided late in the network
    lr: float = 2e-4  # AdamW learning rate, linear warm-up then cosine decay
    epochs: int = 2  # passes over the examples
    grad_accum: int = 4  # examples per optimiser step
    warmup_steps: int = 3  # optimiser steps of linear warm-up
    max_tokens: int = 2048  # longer examples are cut from the left of the prompt (reply kept); the
    # longest with section extracts is 1,841 tokens (at 1,536, 62 of 283 lost their system prompt)
    seed: int = 0  # example order, dropout and LoRA init

    def __post_init__(self):
        if self.top_layers < 0:
            raise ValueError(f"top_layers should be >= 0, got {self.top_layers}")
        for name in ("r", "alpha", "epochs", "grad_accum", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} should be positive, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout should be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise ValueError(f"lr should be positive, got {self.lr}")
        if not self.target_modules or "lm_head" in self.target_modules:
            raise ValueError(f"target_modules should name projection layers (not lm_head), got {self.target_modules}")


def encode_example(tokenizer, example: SFTExample, max_tokens: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of prompt + reply through the chat template; prompt labels are IGNORE."""
    prompt = tokenizer.apply_chat_template(example.messages, tokenize=True, add_generation_prompt=True,
                                           return_dict=True)["input_ids"]
    full = tokenizer.apply_chat_template(example.messages + [{"role": "assistant", "content": example.target}],
                                         tokenize=True, return_dict=True)["input_ids"]
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template does not extend the prompt with the reply; cannot mask the prompt")
    labels = [IGNORE] * len(prompt) + full[len(prompt):]
    if len(full) > max_tokens:  # keep the reply whole, drop the oldest prompt tokens
        full, labels = full[-max_tokens:], labels[-max_tokens:]
    return full, labels


def add_lora(model, config: LoraTrainingConfig):
    """The base model wrapped in a trainable LoRA adapter (peft); base weights frozen."""
    from peft import LoraConfig, get_peft_model

    n_layers = model.config.num_hidden_layers
    layers = list(range(max(0, n_layers - config.top_layers), n_layers)) if config.top_layers else None
    lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), layers_to_transform=layers, task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def example_loss(model, tokenizer, example: SFTExample, max_tokens: int, device: str):
    """Mean cross-entropy of the reply tokens (a scalar tensor).

    Logits are computed for the reply positions only (``logits_to_keep``): the vocabulary
    projection of ~1,000 prompt positions would be a quarter of the step's work for nothing.
    """
    import torch
    import torch.nn.functional as F

    ids, labels = encode_example(tokenizer, example, max_tokens)
    n_reply = sum(label != IGNORE for label in labels)
    logits = model(input_ids=torch.tensor([ids], device=device), logits_to_keep=n_reply + 1).logits
    targets = torch.tensor(ids[len(ids) - n_reply:], device=device)  # (n_reply,)
    return F.cross_entropy(logits[0, :-1].float(), targets)  # position t predicts token t+1


def train_lora(model, tokenizer, examples: list[SFTExample], config: LoraTrainingConfig, out_dir: str | Path,
               device: str = "cpu", base: dict | None = None, eval_examples: list[SFTExample] | None = None,
               progress: bool = True, prompt: dict | None = None) -> dict:
    """Train an adapter on ``examples``; save it, ``training.json`` and ``loss.png``; return the metadata.
    ``prompt``: the settings the examples' prompts were built with (``lora_data.prompt_settings``),
    recorded with the dataset.

    ``model`` is the base causal LM on ``device``; the LoRA layers are removed from it afterwards
    (use ``load_adapter`` on the saved folder). With ``eval_examples`` the reply-token loss on them
    is measured before and after training.
    """
    import torch
    from tqdm.auto import tqdm

    cut = sum(len(encode_example(tokenizer, e, 1 << 30)[0]) > config.max_tokens for e in examples)
    if cut:  # their prompts lose their start (the system prompt): not what the assistant will ask
        log.warning("%d of %d examples are longer than max_tokens=%d and lose the start of their prompt",
                    cut, len(examples), config.max_tokens)
    torch.manual_seed(config.seed)
    model = add_lora(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    steps = math.ceil(len(examples) * config.epochs / config.grad_accum)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: _lr_factor(step, steps, config.warmup_steps))
    order = random.Random(config.seed)
    losses, window, started = [], [], time.perf_counter()
    eval_before = (mean_loss(model, tokenizer, eval_examples, config, device, progress, "Held-out loss, base")
                   if eval_examples else None)
    model.train()
    with tqdm(total=len(examples) * config.epochs, desc="Training LoRA", unit="example", disable=not progress) as bar:
        seen = 0
        for _ in range(config.epochs):
            for example in order.sample(examples, len(examples)):
                loss = example_loss(model, tokenizer, example, config.max_tokens, device)
                (loss / config.grad_accum).backward()
                window.append(loss.item())
                seen += 1
                if seen % config.grad_accum == 0 or seen == len(examples) * config.epochs:
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimiser.step()
                    schedule.step()
                    optimiser.zero_grad(set_to_none=True)
                    losses.append(sum(window) / len(window))
                    window = []
                    bar.set_postfix(loss=f"{losses[-1]:.3f}")
                bar.update(1)
    seconds = time.perf_counter() - started
    eval_after = (mean_loss(model, tokenizer, eval_examples, config, device, progress, "Held-out loss, adapter")
                  if eval_examples else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.peft_config["default"].base_model_name_or_path = (base or {}).get("model")  # not a local temp path
    model.save_pretrained(str(out))
    metadata = {
        "base": base or {},
        "dataset": {"examples": len(examples), "sha256": dataset_hash(examples),
                    "kinds": dict(Counter(e.kind for e in examples)), "cut_to_max_tokens": cut,
                    **({"prompt": prompt} if prompt else {})},
        "settings": {**asdict(config), "target_modules": list(config.target_modules), "device": device,
                     "dtype": str(next(model.parameters()).dtype).removeprefix("torch.")},
        "training": {"seconds": round(seconds, 1), "steps": len(losses), "losses": [round(x, 4) for x in losses],
                     "trainable_params": sum(p.numel() for p in params), "peak_memory_mb": _peak_memory_mb(device)},
        "heldout_reference_loss": None if eval_before is None else {
            "answers": len(eval_examples), "base": round(eval_before, 4), "adapter": round(eval_after, 4),
            "base_perplexity": round(math.exp(eval_before), 3), "adapter_perplexity": round(math.exp(eval_after), 3)},
    }
    (out / METADATA).write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", "utf-8")
    (out / "README.md").write_text(model_card(metadata), "utf-8")  # instead of peft's empty template
    _plot_losses(losses, out / "loss.png")
    model.unload()  # leave the caller's base model without LoRA layers
    return metadata


def model_card(metadata: dict) -> str:
    """A short README for the adapter folder, from its training metadata."""
    settings, training, data = metadata["settings"], metadata["training"], metadata["dataset"]
    lines = [
        "# LoRA adapter for the study assistant", "",
        f"Base model: `{metadata['base'].get('model')}`"
        + (f" (GGUF sha256 `{metadata['base']['gguf_sha256']}`)" if metadata["base"].get("gguf_sha256") else ""),
        f"Data: {data['examples']} examples built from the corpus ({', '.join(f'{k} {v}' for k, v in data['kinds'].items())}), "
        f"sha256 `{data['sha256'][:16]}…`.",
        f"LoRA r={settings['r']}, alpha={settings['alpha']} on {', '.join(settings['target_modules'])} "
        f"(last {settings['top_layers'] or 'all'} layers); {settings['epochs']} epochs, lr {settings['lr']}, "
        f"{training['steps']} steps in {training['seconds']:.0f} s on {settings['device']}.",
    ]
    if metadata.get("heldout_reference_loss"):
        h = metadata["heldout_reference_loss"]
        lines.append(f"Held-out reference answers{' (%d)' % h['answers'] if 'answers' in h else ''}: "
                     f"loss {h['base']} -> {h['adapter']} "
                     f"(perplexity {h['base_perplexity']} -> {h['adapter_perplexity']}).")
    lines += ["", "Use: `study-assistant ask QUESTION --adapter PATH` (see the project README).", ""]
    return "\n".join(lines)


def mean_loss(model, tokenizer, examples: list[SFTExample], config: LoraTrainingConfig, device: str,
              progress: bool = False, desc: str = "Held-out loss") -> float:
    """Mean reply-token loss over ``examples`` without gradients (eval mode)."""
    import torch
    from tqdm.auto import tqdm

    model.eval()
    with torch.inference_mode():
        values = [example_loss(model, tokenizer, e, config.max_tokens, device).item()
                  for e in tqdm(examples, desc=desc, unit="answer", disable=not progress)]
    return sum(values) / len(values)


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0.1 at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _peak_memory_mb(device: str) -> float:
    import resource

    import torch

    if device == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _plot_losses(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, marker="." if len(losses) < 60 else None)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss (reply tokens)")
    ax.set_title("LoRA training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


