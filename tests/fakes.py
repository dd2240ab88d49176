"""Deterministic stand-ins for the LLM, shared by the pipeline, CLI and UI tests."""

from dataclasses import asdict

from assistant.llm.base import Capabilities, ChatModel


class ScriptedGenerator(ChatModel):
    """Replies with a fixed text in pieces and remembers the messages and options it was given.
    It declares every capability, so the options the pipeline would send a full backend are seen."""

    capabilities = Capabilities(adapter_switching=True, opening_bans=True)

    def __init__(self, reply, capabilities: Capabilities | None = None):
        self.reply = reply
        self.calls = []  # messages of each call
        self.options = []  # options of each call that differ from the defaults, e.g. {"temperature": 0.7}
        if capabilities is not None:
            self.capabilities = capabilities

    def stream(self, messages, options=None):
        self.calls.append(messages)
        self.options.append({k: v for k, v in asdict(options).items() if v not in (None, ())} if options else {})
        for i in range(0, len(self.reply), 4):
            yield self.reply[i : i + 4]


class FailingGenerator(ChatModel):
    """Starts a reply, then raises: how a crash inside generation reaches the caller."""

    def __init__(self, error: Exception, after: str = "部分"):
        self.error, self.after = error, after

    def stream(self, messages, options=None):
        yield self.after
        raise self.error
