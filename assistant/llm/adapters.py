"""LoRA adapters for answering: which folder to load, and the adapter merged into the weights.

    resolve_adapter("default", "<data dir>/models/<bundled>")  -> "assistant/data/adapter"
    lora = MergedAdapter(load_adapter(model, path), path); lora.switch(lora.model, False)
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from assistant.llm.model_files import CACHE_NAME

SHIPPED_ADAPTER = Path(__file__).parent.parent / "data" / "adapter"  # trained for the bundled model


def resolve_adapter(spec: str, model_path: str) -> str | None:
    """The adapter folder to load, or None: ``"none"`` -> None; ``"default"`` -> the shipped adapter
    when ``model_path`` is the converted bundled model and an adapter ships; anything else must be
    an adapter folder."""
    if spec in ("none", ""):
        return None
    if spec == "default":
        bundled = Path(model_path).name == CACHE_NAME
        return str(SHIPPED_ADAPTER) if bundled and (SHIPPED_ADAPTER / "adapter_config.json").is_file() else None
    if not (Path(spec) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"No LoRA adapter in {spec} (adapter_config.json is missing); "
                                "train one with `study-assistant train-lora --out DIR`, or use --adapter none.")
    return spec


def load_adapter(model, path: str | Path):
    """``model`` (a base causal LM) with the saved adapter at ``path`` attached, in eval mode."""
    from peft import PeftModel

    path = Path(path)
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"No LoRA adapter in {path} (adapter_config.json is missing); "
                                "train one with `study-assistant train-lora --out DIR`.")
    with quiet_peft():
        return PeftModel.from_pretrained(model, str(path)).eval()


@contextlib.contextmanager
def quiet_peft():
    """Silence the FutureWarning peft triggers by reading a transformers property deprecated in 5.x."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


class MergedAdapter:
    """A loaded LoRA adapter folded into the weights it changes, switched on and off by swapping
    those weights, so that answering costs no LoRA computation.

        lora = MergedAdapter(load_adapter(base_model, "adapters/mine"), "adapters/mine")
        lora.model                     # a plain transformers model, adapter on
        lora.switch(lora.model, False)  # now exactly the base model

    peft computes ``lora_B(lora_A(x)) * scaling`` beside each adapted layer at every forward pass:
    on this CPU ~20% of a prefill (its float32 adapter weights cast to and from bf16 at every
    layer; measured by benchmarks/llm_speed.py). Merged weights are ``W + scaling * B @ A`` in W's
    dtype (one ``addmm``; in bf16 3.6% of the shipped adapter's weights end one bf16 step away
    from the float32 sum). The base weights are kept as loaded: off is the base model exactly.
    Memory: the adapted layers' merged weights come on top (~240 MB in bf16 for the shipped
    adapter's 8 layers).
    """

    def __init__(self, peft_model, path: str | Path):
        import torch
        from peft.tuners.lora import LoraLayer

        self.path = str(path)
        self.weights = {}  # module name in the plain model -> (base weight, merged weight)
        prefix = "base_model.model."
        unsupported = f"{self.path}: only plain LoRA on Linear layers can be merged for answering ({{}}); " \
                      "train one with `study-assistant train-lora`, or use --adapter none."
        for config in peft_model.peft_config.values():
            if getattr(config, "modules_to_save", None) or getattr(config, "trainable_token_indices", None):
                raise ValueError(unsupported.format("it also trains whole modules or token embeddings"))
        with torch.no_grad():
            for name, layer in peft_model.named_modules():
                if not isinstance(layer, LoraLayer):
                    continue
                base = layer.get_base_layer()
                active = [a for a in layer.active_adapters if a in layer.lora_A]
                if not isinstance(base, torch.nn.Linear) or layer.fan_in_fan_out or any(
                        layer.use_dora.get(a) or layer.lora_bias.get(a) or a in layer.lora_variant for a in active):
                    raise ValueError(unsupported.format(f"{name} is a {type(base).__name__} with another LoRA form"))
                merged = base.weight.detach()  # [out, in]
                for a in active:  # B [out, r] @ A [r, in]
                    lora_a, lora_b = layer.lora_A[a].weight, layer.lora_B[a].weight
                    merged = torch.addmm(merged, lora_b.to(merged.dtype), lora_a.to(merged.dtype),
                                         alpha=layer.scaling[a])
                self.weights[name.removeprefix(prefix)] = (base.weight, torch.nn.Parameter(merged, requires_grad=False))
        with quiet_peft():
            self.model = peft_model.unload()  # the base model, its layers as they were before peft
        self.switch(self.model, True)

    def switch(self, model, on: bool) -> None:
        """Give ``model`` (this one, or a copy of it) the merged weights (``on``) or the base ones."""
        for name, (base, merged) in self.weights.items():
            model.get_submodule(name).weight = merged if on else base
