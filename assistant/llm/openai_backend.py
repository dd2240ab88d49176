"""The server backend: any OpenAI-compatible chat server (vLLM, SGLang, llama.cpp, Ollama) through
the official ``openai`` SDK.

    [llm]
    backend = "openai"
    base_url = "http://127.0.0.1:8000/v1"
    model = "Qwen/Qwen2.5-7B-Instruct"     # "bundled": whatever the server serves first
    adapter = "study"                       # a LoRA the server serves under that name (vLLM --lora-modules)

Replies stream (``stream=True``). What a server cannot do is declared in ``capabilities`` and so
skipped by the pipeline: prompt lookup is an in-process feature, and so are opening bans unless
``server_tokenizer`` names the served model's tokenizer. With it, a text the reply may not begin
with has its first token barred through ``logit_bias``, which OpenAI's API applies to every token
of the reply, not only the first: so only a first token the reply has no other use for is barred
("资料" of "资料中没有涉及这个问题。"), never a plain English word ("The" of the English refusal). Every failure
becomes a ``BackendError`` whose message names the URL and what went wrong; the SDK retries
connection failures, 408, 409, 429 and 5xx ``max_retries`` times with exponential backoff
(honouring ``Retry-After``) before that.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator

import httpx
import openai

from assistant.llm.base import Capabilities, ChatModel, GenerationOptions
from assistant.llm.errors import BackendError
from assistant.llm.settings import GenerationConfig
from assistant.text import repeats_a_line

log = logging.getLogger(__name__)

NO_KEY = "no-key"  # what is sent when api_key_env is unset: local servers accept any key
SERVER_CONTEXT_TOKENS = 8192  # prompt + reply budget when context_tokens is 0 (llama.cpp's and vLLM's
# common window for small models; set context_tokens to the server's own limit)


class OpenAIChatModel(ChatModel):
    """A chat model served over the OpenAI chat-completions API."""

    def __init__(self, config: GenerationConfig, client=None, data_dir=None):
        self.config = config
        self.data_dir = data_dir  # where a bundled server_tokenizer is converted (the app's data folder)
        self._tokenizer = None
        self._bars: dict[tuple[str, ...], dict[str, int]] = {}
        self.base_url = config.base_url.rstrip("/")
        self.client = client or _client(config)
        self.served = None if config.model == "bundled" else config.model  # found on first use otherwise
        self.adapter = config.adapter if config.adapter not in ("default", "none") else None
        # a served LoRA is another model name: a call can use it or not
        self.capabilities = Capabilities(adapter_switching=self.adapter is not None, concurrent=True,
                                         opening_bans=bool(config.server_tokenizer))
        self.temperature = config.temperature
        self.max_new_tokens = config.max_new_tokens
        self.context_tokens = config.context_tokens or SERVER_CONTEXT_TOKENS

    @property
    def name(self) -> str:
        return f"{self.served or self.config.model} @ {self.base_url}"

    def served_model(self) -> str:
        """The model name requests use: the configured one, or (``model = "bundled"``) the first
        one the server lists."""
        if self.served is None:
            names = self.served_names()
            if not names:
                raise BackendError(f"The model server at {self.base_url} serves no model (GET /models is empty).")
            self.served = names[0]
        return self.served

    def served_names(self) -> list[str]:
        """The model (and adapter) names the server lists (GET /models)."""
        return [model.id for model in self._call("list its models", lambda: list(self.client.models.list()))]

    def stream(self, messages: list[dict], options: GenerationOptions | None = None) -> Iterator[str]:
        options = options or GenerationOptions()
        use_adapter = self.adapter is not None and options.adapter is not False
        model = self.adapter if use_adapter else self.served_model()
        temperature = self.config.temperature if options.temperature is None else options.temperature
        request = {"model": model, "messages": messages, "stream": True, "temperature": temperature,
                   "max_tokens": options.max_new_tokens or self.max_new_tokens}
        if temperature > 0:
            request["top_p"] = self.config.top_p
        bars = self.barred_tokens(options.forbid_openings) if self.config.server_tokenizer else {}
        if bars:
            request["logit_bias"] = bars
        if self.config.extra_body:
            request["extra_body"] = dict(self.config.extra_body)
        response = self._call("start a reply", lambda: self.client.chat.completions.create(**request))
        yield from self._pieces(response, model)

    def barred_tokens(self, openings: tuple[str, ...]) -> dict[str, int]:
        """``logit_bias`` that bars each opening's first token, except a plain English word:
        ``("资料中没有涉及这个问题。", "The study notes do not cover this question.") -> {"101111": -100}``
        with the Qwen2.5 vocabulary."""
        if openings not in self._bars:
            tokenizer = self.tokenizer()
            bars = {}
            for text in openings:
                ids = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
                if ids and not re.fullmatch(r"\s*[A-Za-z]+\s*", tokenizer.decode(ids[:1])):
                    bars[str(ids[0])] = -100
            self._bars[openings] = bars
        return self._bars[openings]

    def tokenizer(self):
        """The served model's tokenizer (``server_tokenizer``), loaded on first use; the bundled
        model's is its converted folder's (converted once, as in-process)."""
        if self._tokenizer is None:
            from pathlib import Path

            from assistant.llm.model_files import ModelFilesError, bundle_for, resolve_model
            from assistant.llm.tokenizer import load_tokenizer

            spec = self.config.server_tokenizer
            try:
                if bundle_for(spec) is not None:
                    from assistant.config import default_data_dir

                    spec = resolve_model(spec, Path(self.data_dir or default_data_dir()))
                self._tokenizer = load_tokenizer(spec)
            except (OSError, ValueError, ModelFilesError) as err:
                raise BackendError(f"Could not load the tokenizer [llm] server_tokenizer = "
                                   f"{self.config.server_tokenizer!r} names ({str(err)[:200]}). Name the served "
                                   f"model's tokenizer folder, or set it to \"\" to go without.") from None
        return self._tokenizer

    def _pieces(self, response, model: str) -> Iterator[str]:
        """The streamed text; a stream that breaks off or stops making sense is a ``BackendError``."""
        text, finished = "", None
        chunks = iter(response)
        try:
            while True:
                chunk = self._call("stream the reply", lambda: next(chunks, None))
                if chunk is None:
                    break
                if not getattr(chunk, "choices", None):
                    continue  # usage-only or keep-alive chunks
                choice = chunk.choices[0]
                piece = getattr(choice.delta, "content", None) or ""
                if piece:
                    text += piece
                    yield piece
                finished = choice.finish_reason or finished
                if finished:
                    break
                if self.config.stop_repeated_line and piece and "\n" in piece and repeats_a_line(text):
                    finished = "repeated line"  # the pipeline drops such lines: stop generating them
                    break
        finally:
            _close(response)  # a stream left early cancels the request on the server
        if finished is None:
            raise BackendError(f"The model server at {self.base_url} ended the reply of {model!r} before it "
                               f"finished (no finish_reason after {len(text)} characters): the stream was cut.")

    def _call(self, what: str, call):
        """``call()``, with the SDK's failures turned into a ``BackendError`` naming the URL."""
        where = f"the model server at {self.base_url}"
        retried = f" after {self.config.max_retries} retries" if what != "stream the reply" else ""  # the SDK
        # retries requests, not a stream already under way
        try:
            return call()
        except (openai.APITimeoutError, httpx.TimeoutException):
            raise BackendError(f"Could not {what}: {where} did not answer within {self.config.timeout_s:g} s"
                               f"{retried}. Is it overloaded? Raise [llm] timeout_s if it is just slow.") from None
        except openai.APIConnectionError as err:
            cause = err.__cause__ or err
            raise BackendError(f"Could not {what}: {where} cannot be reached ({_reason(cause)}){retried}. "
                               f"Is the server running, and is [llm] base_url right?") from None
        except openai.AuthenticationError:
            raise BackendError(f"Could not {what}: {where} refused the API key (HTTP 401). Put the key in the "
                               f"environment variable {self.config.api_key_env}.") from None
        except openai.NotFoundError as err:
            raise BackendError(f"Could not {what}: {where} answered HTTP 404 ({_detail(err)}). Check [llm] model "
                               f"and adapter against the names it serves (GET {self.base_url}/models).") from None
        except openai.APIStatusError as err:
            raise BackendError(f"Could not {what}: {where} answered HTTP {err.status_code} "
                               f"({_detail(err)}).") from None
        except httpx.TransportError as err:  # the connection broke in the middle of a stream
            raise BackendError(f"Could not {what}: the connection to {where} broke ({_reason(err)}).") from None
        except openai.APIError as err:  # an error event inside the stream (vLLM sends one on failure)
            raise BackendError(f"Could not {what}: {where} reported an error in the middle of the reply "
                               f"({_detail(err)}).") from None
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, IndexError, TypeError) as err:
            raise BackendError(f"Could not {what}: {where} sent a reply that is not an OpenAI-compatible "
                               f"stream ({type(err).__name__}: {str(err)[:200]}).") from None


def _client(config: GenerationConfig):
    return openai.OpenAI(base_url=config.base_url, api_key=os.environ.get(config.api_key_env) or NO_KEY,
                         timeout=config.timeout_s, max_retries=config.max_retries)


def _close(response) -> None:
    close = getattr(response, "close", None)
    if close:
        try:
            close()
        except Exception:  # closing a broken connection may fail too; the reply is already settled
            log.debug("closing the stream failed", exc_info=True)


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return "connection refused" if "refused" in text.lower() else text[:200]


def _detail(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    text = str(body or getattr(err, "message", "") or "").strip()
    return text[:200] or "no details"
