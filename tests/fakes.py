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


class CopyingReader(ChatModel):
    """Scores texts like a model that copies from its prompt: after a prompt with notes ("笔记"), a
    character is likely (0) when its clause so far (from the last "，。；") occurs in the prompt and
    unlikely (-3) otherwise; after a prompt without notes every character is -2. So a text the notes
    contain gains, and one that exchanges what the notes say loses."""

    capabilities = Capabilities(scoring=True)

    def __init__(self):
        self.scored = []  # (prompt, text) of each call

    def stream(self, messages, options=None):
        yield "2"

    def continuation_logprobs(self, prompt, text):
        self.scored.append((prompt, text))
        if "笔记" not in prompt:
            return [-2.0] * len(text)
        scores, start = [], 0
        for i, char in enumerate(text):
            if char in "，。；":
                start = i + 1
            scores.append(0.0 if text[start:i + 1] in prompt else -3.0)
        return scores
