"""The contract between the answer pipeline and a language model: ``ChatModel``.

A backend implements ``stream(messages, options)`` and declares what else it can do in
``capabilities``; the pipeline asks those, it never probes for methods. ``generate``,
``warm_up`` and ``count_tokens`` have defaults here.

    class Echo(ChatModel):
        def stream(self, messages, options=None):
            yield messages[-1]["content"]

    Echo().generate([{"role": "user", "content": "你好"}])  -> "你好"
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

CHARS_PER_TOKEN = 1.0  # count_tokens' estimate without a tokenizer: Chinese runs ~1 token a character


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond streaming a reply."""

    adapter_switching: bool = False  # answers with or without its LoRA adapter per call (options.adapter)
    opening_bans: bool = False  # honours options.forbid_openings (texts the reply may not begin with)
    warm_up: bool = False  # warm_up() does real work (kernel set-up, compiled steps)
    prompt_lookup: bool = False  # drafts tokens copied from the prompt: replies that copy decode faster
    concurrent: bool = False  # serves several replies at once (a server that batches), so callers need
    # not queue them one by one
    scoring: bool = False  # continuation_logprobs(): the log-probability of a given text's tokens


@dataclass(frozen=True)
class GenerationOptions:
    """Per-call settings; None keeps the backend's configured value."""

    temperature: float | None = None  # 0 = greedy
    max_new_tokens: int | None = None  # longest reply, in tokens
    adapter: bool | None = None  # with (True) or without (False) the LoRA adapter; needs adapter_switching
    forbid_openings: tuple[str, ...] = ()  # texts the reply may not begin with; needs opening_bans

    def __post_init__(self):
        if self.temperature is not None and not self.temperature >= 0:
            raise ValueError(f"temperature should be >= 0, got {self.temperature}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens should be positive, got {self.max_new_tokens}")


class ChatModel:
    """A chat LLM: messages ``[{"role": "system"|"user"|"assistant", "content": str}]`` in, text out."""

    capabilities = Capabilities()
    name = "model"  # what the page and reports call it
    adapter: str | None = None  # the loaded LoRA adapter (a folder or a served name), None without one
    temperature = 0.0  # the configured default temperature (the page's slider starts there)
    max_new_tokens = 256  # the configured longest reply, in tokens
    context_tokens = 32768  # prompt and reply together must fit in this many tokens

    def stream(self, messages: list[dict], options: GenerationOptions | None = None) -> Iterator[str]:
        """Yield the reply's text pieces as they are decoded."""
        raise NotImplementedError

    def generate(self, messages: list[dict], options: GenerationOptions | None = None) -> str:
        """The whole reply at once."""
        return "".join(self.stream(messages, options))

    def continuation_logprobs(self, prompt: str, text: str) -> list[float]:
        """The log-probability of each token of ``text`` when it follows ``prompt`` (plain text, no
        chat template): how likely the model finds a given text, not a reply. Needs
        ``capabilities.scoring``."""
        raise NotImplementedError(f"{type(self).__name__} does not score texts")

    def warm_up(self) -> None:
        """Prepare for a session of answers (a no-op unless ``capabilities.warm_up``)."""

    def count_tokens(self, messages: list[dict]) -> int:
        """Tokens the prompt of ``messages`` takes (an estimate from its characters by default)."""
        return int(sum(len(m.get("content", "")) + 4 for m in messages) / CHARS_PER_TOKEN)
