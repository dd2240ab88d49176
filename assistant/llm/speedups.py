"""CPU speed-ups for transformers models that change no output value.

- ``plain_strides_for_output_layer``: the output layer reads a contiguous row (saves a copy of its
  weight per prefill under peft).
- ``feed_only_uncached_tokens``: prompt-lookup decoding starts from a warm KV cache (the system
  prompt's), as plain decoding does.
- ``quantize_int8``: dynamic int8 Linear layers (an opt-in trade of exactness for speed).
"""

from __future__ import annotations


def quantize_int8(model):
    """Replace every nn.Linear with a dynamically quantized int8 one (CPU inference only).

    Weights are int8 per channel, activations quantized on the fly: decode is memory-bound on
    a small CPU, so 4x smaller weights decode several times faster (benchmarks/llm_speed.py).
    """
    import warnings

    import torch

    with warnings.catch_warnings():  # deprecated in favour of torchao, still present in torch 2.13
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def plain_strides_for_output_layer(model) -> None:
    """Hand the output layer (lm_head) its input with plain strides: a one-row copy per step that
    saves ~1.1 s of every prefill on this CPU. Idempotent.

    ``logits_to_keep=1`` slices the last position: a [1, 1, 896] view into [1, n, 896], whose
    strides torch's matmul cannot fold into one matrix product unless the weight requires grad.
    A peft model freezes the base weights, so the batched product it falls back to first copied
    the whole output weight transposed (896 x 151,936) on every forward pass with n > 1
    . The copy made here changes no value (a test checks).
    """
    import torch

    layer = transformers_model(model).get_output_embeddings()
    if layer is None or getattr(layer, "plain_strides", False):
        return

    def plain(module, args):
        hidden = args[0]  # [batch, positions, hidden]
        if hidden.dim() > 2 and hidden.stride() != _plain_strides(hidden.shape):
            return (hidden.clone(memory_format=torch.contiguous_format), *args[1:])
        return None

    layer.register_forward_pre_hook(plain)
    layer.plain_strides = True


def _plain_strides(shape) -> tuple[int, ...]:
    """Row-major strides of ``shape``: (1, 1, 896) -> (896, 896, 1)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def transformers_model(model):
    """The transformers model itself: ``model``, or the one inside a peft model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def warm_start_supported(model) -> bool:
    """Whether this transformers names the pieces ``feed_only_uncached_tokens`` relies on
    (``cache``, ``next_sequence_length``, ``is_first_iteration``; 5.2x): else no prefix cache."""
    import inspect

    names = inspect.signature(transformers_model(model).prepare_inputs_for_generation).parameters
    return {"cache", "next_sequence_length", "is_first_iteration"} <= set(names)


def feed_only_uncached_tokens(model) -> None:
    """Make prompt-lookup (assisted) decoding start from a warm cache, as plain decoding does.

    transformers 5.x slices the prompt to its uncached tokens in plain decoding's prefill, but
    assisted decoding's first step feeds the whole prompt on top of the cache (wrong positions,
    a different reply). The wrapper gives that step the same slice. ``model`` is a transformers
    model or a peft LoRA model around one (whose generate() is the inner model's). Idempotent.
    """
    inner = transformers_model(model)
    original = inner.prepare_inputs_for_generation
    if getattr(original, "feeds_only_uncached", False):
        return
    import functools

    @functools.wraps(original)  # same signature: generate() checks its keyword arguments against it
    def prepare(input_ids, *args, next_sequence_length=None, is_first_iteration=False, **kwargs):
        cache, mask = kwargs.get("cache"), kwargs.get("attention_mask")
        linear = getattr(cache, "is_linear", None)  # a recurrent state cannot be sliced into
        if is_first_iteration and next_sequence_length is None and cache is not None and not (linear and all(linear)):
            cached = cache.get_seq_length()  # our prompts are whole: a mask, when given, spans them
            if 0 < cached < input_ids.shape[1] and (mask is None or mask.shape[1] == input_ids.shape[1]):
                next_sequence_length = input_ids.shape[1] - cached
        return original(input_ids, *args, next_sequence_length=next_sequence_length,
                        is_first_iteration=is_first_iteration, **kwargs)

    prepare.feeds_only_uncached = True
    inner.prepare_inputs_for_generation = prepare
