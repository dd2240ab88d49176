"""Deterministic stand-ins for the LLM, shared by the pipeline, CLI and UI tests."""


class ScriptedGenerator:
    """Replies with a fixed text in pieces and remembers the messages and options it was given."""

    def __init__(self, reply):
        self.reply = reply
        self.calls = []  # messages of each call
        self.options = []  # decoding overrides of each call, e.g. {"temperature": 0.7}

    def stream(self, messages, **options):
        self.calls.append(messages)
        self.options.append(options)
        for i in range(0, len(self.reply), 4):
            yield self.reply[i : i + 4]

    def generate(self, messages, **options):
        return "".join(self.stream(messages, **options))


class FailingGenerator:
    """Starts a reply, then raises: how a crash inside generation reaches the caller."""

    def __init__(self, error: Exception, after: str = "部分"):
        self.error, self.after = error, after

    def stream(self, messages, **_):
        yield self.after
        raise self.error
