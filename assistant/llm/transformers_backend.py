"""The in-process backend: any Hugging Face causal LM run with transformers and torch.

``TransformersChatModel.load(path, config)`` takes a hub id or a local folder (the bundled model
after ``model_files.resolve_model``): CUDA in bf16 when present, otherwise the CPU in the
configured dtype, with prompt-lookup decoding and a cached system prompt
(benchmarks/llm_speed.py measures both). Generation runs on the process's one generation thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

from assistant.llm.adapters import resolve_adapter
from assistant.llm.base import Capabilities, ChatModel, GenerationOptions
from assistant.llm.settings import GenerationConfig, pick_device, pick_dtype
from assistant.llm.speedups import (
    feed_only_uncached_tokens,
    plain_strides_for_output_layer,
    quantize_int8,
    warm_start_supported,
)
from assistant.llm.tokenizer import load_tokenizer
from assistant.llm.worker import generation_thread
from assistant.text import repeats_a_line

log = logging.getLogger(__name__)

PREFIX_CACHES = 4  # system-prompt KV caches kept (adapter on/off x Chinese/English system prompt)
# tokenizer classes that tokenizer.json defines completely (no class-specific rules on top): a
# local folder of these loads it directly (load_tokenizer)


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
    completed a line that repeats an earlier one, compared as ``text.repeats_a_line`` does."""

    def __init__(self, tokenizer, prompt_length: int):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        # (prompt lookup may complete several lines a step)
        stop = [repeats_a_line(self.tokenizer.decode(row[self.prompt_length:], skip_special_tokens=True))
                for row in input_ids]
        return torch.tensor(stop, dtype=torch.bool, device=input_ids.device)


class TransformersChatModel(ChatModel):
    """A transformers causal LM with its tokenizer's chat template."""

    def __init__(self, model, tokenizer, config: GenerationConfig, device: str, lora=None):
        self.model = model  # a plain transformers model (an adapter comes merged, as ``lora``)
        self.tokenizer = tokenizer
        self.config = config
        self.device = device
        self.lora = lora  # adapters.MergedAdapter that switches ``model``'s weights, or None
        self.adapter = lora.path if lora else None  # folder of the adapter, None without one
        self.use_adapter = lora is not None  # switch it off per call (options.adapter=False) or here
        self.static_cache = False  # set by warm_up() on CUDA (GenerationConfig.static_cache)
        self._static_models: dict = {}  # adapter on/off -> plain model, in static-cache mode
        self._prepared: set[bool] = set()  # which of those have their cache sized and step compiled
        self._prefixes: dict = {}  # (adapter on/off, system prompt ids) -> KV cache: prefix_cache
        self._worker = generation_thread()
        plain_strides_for_output_layer(model)
        self.capabilities = Capabilities(adapter_switching=lora is not None, opening_bans=True, warm_up=True,
                                         prompt_lookup=config.prompt_lookup > 0, scoring=True)
        self.name = str(getattr(getattr(model, "config", None), "_name_or_path", "") or "transformers")
        self.temperature = config.temperature
        self.max_new_tokens = config.max_new_tokens
        self.context_tokens = int(getattr(getattr(model, "config", None), "max_position_embeddings", 0) or 32768)

    @classmethod
    def load(cls, model_path: str, config: GenerationConfig | None = None) -> "TransformersChatModel":
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
            from assistant.llm.adapters import MergedAdapter, load_adapter

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

    def stream(self, messages: list[dict], options: GenerationOptions | None = None) -> Iterator[str]:
        """Yield the reply's text pieces as they are decoded. ``options.adapter=False``: without the
        LoRA adapter. ``options.forbid_openings``: texts the reply may not begin with (their first
        tokens are barred from its first token), e.g. the refusal sentence where a refusal would not
        be shown anyway."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        options = options or GenerationOptions()
        adapter, forbid_openings = options.adapter, options.forbid_openings
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
        kwargs = {**inputs, **self._decoding(options), "streamer": streamer,
                  "stopping_criteria": StoppingCriteriaList(stops)}
        if forbid_openings:
            barred = {self.tokenizer(text, add_special_tokens=False)["input_ids"][0] for text in forbid_openings if text}
            kwargs["logits_processor"] = LogitsProcessorList([BarFirstTokens(barred, prompt_length)])
        warm = self.config.prefix_cache and not self.static_cache and warm_start_supported(model)
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

    def continuation_logprobs(self, prompt: str, text: str) -> list[float]:
        """The log-probability of each token of ``text`` after ``prompt``, one forward pass on the
        generation thread, with the adapter as answers use it."""
        import torch

        prompt_ids = self.tokenizer(prompt, return_tensors="pt").input_ids
        text_ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
        if not prompt_ids.shape[1]:
            raise ValueError("the prompt is empty: the first token of the text has nothing to follow")
        if not text_ids.shape[1]:
            return []
        ids = torch.cat([prompt_ids, text_ids], 1).to(self.device)
        on = bool(self.lora) and self.use_adapter

        def run():
            if self.static_cache:  # one plain model per adapter setting
                model = self._static_models[on]
            else:
                model = self.model
                if self.lora:
                    self.lora.switch(model, on)
            with torch.inference_mode():
                logits = model(ids, use_cache=False, logits_to_keep=text_ids.shape[1] + 1).logits[0, :-1]
            return logits.float().log_softmax(-1).gather(1, text_ids[0, :, None].to(logits.device))[:, 0].tolist()

        return self._worker.submit(run).result()

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

        feed_only_uncached_tokens(model)
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
        self.generate([{"role": "user", "content": "你好"}], GenerationOptions(max_new_tokens=2))
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

    def encode(self, messages: list[dict]) -> dict:
        """Chat-templated prompt -> model inputs on the device."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, return_tensors="pt").to(self.device)

    def count_tokens(self, messages: list[dict]) -> int:
        """Tokens of the chat-templated prompt of ``messages``."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(self.tokenizer(text)["input_ids"])

    def _decoding(self, options: GenerationOptions | None = None) -> dict:
        """``generate()``'s decoding arguments for these options over the configured ones."""
        options = options or GenerationOptions()
        temperature = self.config.temperature if options.temperature is None else options.temperature
        sampling = temperature > 0
        settings = {
            "max_new_tokens": options.max_new_tokens or self.config.max_new_tokens,
            "repetition_penalty": self.config.repetition_penalty,
            "do_sample": sampling,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if self.static_cache:  # compiled single-token steps: faster on CUDA than drafting (no lookup)
            settings["cache_implementation"] = "static"
        elif self.config.prompt_lookup:
            settings["prompt_lookup_num_tokens"] = self.config.prompt_lookup
        if sampling:
            settings.update(temperature=temperature, top_p=self.config.top_p)
        else:
            settings.update(temperature=None, top_p=None, top_k=None)
        return settings
