"""One TOML config -> dataclasses, one per component. Every field has a documented default.

    [corpus]
    path = "notes/"             # file or folder; default: the bundled seed document

    [chunking]
    max_chars = 400

    [retrieval]
    k = 5

CLI flags override fields after the file is read (``Config.load(path).with_overrides(...)``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from corpus import ChunkConfig
from index import IndexConfig, RetrievalConfig

from assistant.generation import GenerationConfig
from assistant.study import AnswerConfig

ENV_HOME = "STUDY_ASSISTANT_HOME"


def default_data_dir() -> Path:
    """``$STUDY_ASSISTANT_HOME`` or ``~/.cache/study-assistant``: all state lives here."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".cache" / "study-assistant")


@dataclass(frozen=True)
class CorpusConfig:
    """Where the Q&A documents come from."""

    path: str | None = None  # a .md/.txt file or a folder of them; None = bundled seed document


@dataclass(frozen=True)
class UIConfig:
    """How ``study-assistant serve`` publishes the browser chat."""

    host: str = "127.0.0.1"  # interface to bind; "0.0.0.0" makes the page reachable from other machines
    port: int = 7860  # TCP port of the page
    share: bool = False  # ask Gradio for a public share link (needs internet; off by default)
    concurrency: int = 1  # answers generated at once; others wait in the queue and see their place
    max_queue: int = 64  # waiting requests beyond this are turned away with a "busy" message
    examples: int = 6  # example questions taken from the corpus, shown under the chat

    def __post_init__(self):
        if not 0 < self.port < 65536:
            raise ValueError(f"port should be in 1..65535, got {self.port}")
        for name in ("concurrency", "max_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} should be positive, got {getattr(self, name)}")
        if self.examples < 0:
            raise ValueError(f"examples should be >= 0, got {self.examples}")


@dataclass(frozen=True)
class Config:
    """Everything configurable, grouped by component."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    chunking: ChunkConfig = field(default_factory=ChunkConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    llm: GenerationConfig = field(default_factory=GenerationConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    data_dir: str | None = None  # None = $STUDY_ASSISTANT_HOME or ~/.cache/study-assistant

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Config":
        """Read a TOML file (None: all defaults). Unknown sections or keys are errors."""
        if path is None:
            return cls()
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"Config file {path} does not exist.") from None
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"Config file {path} is not valid TOML: {err}") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "Config":
        sections = {f.name: f for f in fields(cls)}
        values = {}
        for name, value in raw.items():
            if name not in sections:
                raise ValueError(f"{source}: unknown setting {name!r}; known: {sorted(sections)}")
            if isinstance(value, dict):
                component = sections[name].default_factory  # type: ignore[misc]
                values[name] = _build(component, value, f"{source}: [{name}]")
            else:
                values[name] = value
        return cls(**values)

    def with_overrides(self, **overrides) -> "Config":
        """Override fields by dotted name, skipping None: ``with_overrides(**{"retrieval.k": 3})``."""
        config = self
        for dotted, value in overrides.items():
            if value is None:
                continue
            if "." not in dotted:
                config = replace(config, **{dotted: value})
                continue
            section, key = dotted.split(".", 1)
            component = getattr(config, section)
            config = replace(config, **{section: replace(component, **{key: value})})
        return config


def _build(component, values: dict, where: str):
    known = {f.name for f in fields(component)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    return component(**values)
