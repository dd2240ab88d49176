"""One TOML config -> dataclasses, one per component. Every field has a documented default.

    [corpus]
    path = "notes/"             # file, folder or bundled name; default: "wethinkin"

    [chunking]
    max_chars = 400

    [retrieval]
    k = 5

CLI flags override fields after the file is read (``Config.load(path).with_overrides(...)``).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from corpus import ChunkConfig
from index import IndexConfig, RetrievalConfig

from assistant.answer.settings import AnswerConfig
from assistant.llm.settings import GenerationConfig

ENV_HOME = "STUDY_ASSISTANT_HOME"


class ConfigError(ValueError):
    """A config file or override names an unknown setting or gives one a wrong value."""


class DataDirError(OSError):
    """The data dir cannot hold the assistant's state (not a folder, not writable)."""


def default_data_dir() -> Path:
    """``$STUDY_ASSISTANT_HOME`` or ``~/.cache/study-assistant``: all state lives here."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".cache" / "study-assistant")


@dataclass(frozen=True)
class CorpusConfig:
    """Where the Q&A documents come from."""

    path: str | None = None  # a .md/.txt file, a folder of them, or "wethinkin" / "seed"; None = "wethinkin"


@dataclass(frozen=True)
class UIConfig:
    """How ``study-assistant serve`` publishes the browser chat."""

    host: str = "127.0.0.1"  # interface to bind; "0.0.0.0" makes the page reachable from other machines
    port: int = 7860  # TCP port of the page
    share: bool = False  # ask Gradio for a public share link (needs internet; off by default)
    concurrency: int = 0  # answers generated at once; others wait in the queue and see their place.
    # 0: one for the in-process model (it decodes one reply at a time), 16 for a server that batches
    max_queue: int = 64  # waiting requests beyond this are turned away with a "busy" message
    examples: int = 6  # example questions taken from the corpus, shown under the chat
    # Extra Host names the page answers (e.g. "study.lan"); by default only the bound host, "localhost",
    # "127.0.0.1" and "[::1]" are, with or without the port, against DNS rebinding. Bound to all
    # interfaces ("0.0.0.0", "::"), any Host is accepted unless this is set.
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.allowed_hosts, list):
            object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        if not isinstance(self.allowed_hosts, tuple) or not all(
                isinstance(host, str) and host.strip() for host in self.allowed_hosts):
            raise ValueError(f"allowed_hosts should be a list of host names, got {self.allowed_hosts!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port should be in 1..65535, got {self.port}")
        if self.max_queue < 1 or self.concurrency < 0:
            raise ValueError(f"need concurrency >= 0 and max_queue >= 1, got {self.concurrency}, {self.max_queue}")
        if self.examples < 0:
            raise ValueError(f"examples should be >= 0, got {self.examples}")


@dataclass(frozen=True)
class DrillConfig:
    """How drill mode grades and how many new questions a day it brings."""

    judge_weight: float = 0.0  # share of the score from the LLM's 0/1/2 grade of the answer (0: none);
    # worth it with a stronger model on a server (benchmarks/README.md)
    new_per_day: int = 20  # new questions a day, after the due ones
    model_check: bool = True  # the model reads each answer after the notes (swapped subjects, how far the
    # notes back it) when it can score texts (the in-process model can); off: rules alone, no model load

    def __post_init__(self):
        if not 0 <= self.judge_weight <= 1:
            raise ValueError(f"judge_weight should be in [0, 1], got {self.judge_weight}")
        if self.new_per_day < 0:
            raise ValueError(f"new_per_day should be >= 0, got {self.new_per_day}")


SERVER_CONCURRENCY = 16  # UIConfig.concurrency's default over a server: vLLM and llama.cpp batch them


def answers_at_once(config: UIConfig, model) -> int:
    """How many answers the page generates at once: ``config.concurrency``, or by the model (0)."""
    return config.concurrency or (SERVER_CONCURRENCY if model.capabilities.concurrent else 1)


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
    drill: DrillConfig = field(default_factory=DrillConfig)
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
            raise ConfigError(f"Config file {path} is not valid TOML: {err}") from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
            raise ConfigError(f"Config file {path} cannot be read: {err}") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "Config":
        """Build from parsed TOML; a wrong key or value type raises ``ConfigError`` naming it."""
        sections = {f.name: f for f in fields(cls)}
        values = {}
        for name, value in raw.items():
            if name not in sections:
                raise ConfigError(f"{source}: unknown setting {name!r}; known: {sorted(sections)}")
            if name == "data_dir":
                values[name] = checked_value(f"{source}: data_dir", value, typing.get_type_hints(cls)[name])
            elif not isinstance(value, dict):
                raise ConfigError(f"{source}: {name} should be a table ([{name}] with key = value lines), "
                                  f"got {value!r}")
            else:
                component = sections[name].default_factory  # type: ignore[misc]
                values[name] = _build(component, value, f"{source}: [{name}]")
        return cls(**values)

    def with_overrides(self, **overrides) -> "Config":
        """Override fields by dotted name, skipping None: ``with_overrides(**{"retrieval.k": 3})``."""
        config = self
        for dotted, value in overrides.items():
            if value is None:
                continue
            if "." not in dotted:
                value = checked_value(dotted, value, typing.get_type_hints(type(config))[dotted])
                config = replace(config, **{dotted: value})
                continue
            section, key = dotted.split(".", 1)
            component = getattr(config, section)
            hints = typing.get_type_hints(type(component))
            if key not in hints:
                raise ConfigError(f"unknown setting {dotted!r}")
            value = checked_value(dotted, value, hints[key])
            try:
                config = replace(config, **{section: replace(component, **{key: value})})
            except ValueError as err:
                raise ConfigError(f"{dotted}: {err}") from None
        return config


def ensure_data_dir(path: Path) -> Path:
    """``path`` as a writable folder (made if missing), or ``DataDirError`` saying what is wrong."""
    if path.exists() and not path.is_dir():
        raise DataDirError(f"The data dir {path} is a file, not a folder; give --data-dir (or "
                           f"${ENV_HOME}) a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise DataDirError(f"The data dir {path} cannot be written ({err.strerror or err}); give --data-dir "
                           f"(or ${ENV_HOME}) a folder you can write to.") from None
    return path


def checked_value(key: str, value, hint):
    """``value`` if it has the type ``hint`` names (an int is also a float; a list of strings is a
    tuple of them), else ``ConfigError``: ``checked_value("retrieval.k", "abc", int)`` ->
    "retrieval.k should be an integer, got 'abc'"."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if typing.get_origin(option) is tuple and isinstance(value, (list, tuple)) \
                and all(isinstance(item, str) for item in value):
            return tuple(value)
        if option is dict and isinstance(value, dict) and all(isinstance(name, str) for name in value):
            return dict(value)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table"}
    expected = " or ".join(names.get(o, "a list of strings" if typing.get_origin(o) is tuple else str(o))
                           for o in options if o is not type(None))
    raise ConfigError(f"{key} should be {expected}, got {value!r}")


def _build(component, values: dict, where: str):
    hints = typing.get_type_hints(component)
    known = {f.name for f in fields(component)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    checked = {key: checked_value(f"{where} {key}", value, hints[key]) for key, value in values.items()}
    try:
        return component(**checked)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
