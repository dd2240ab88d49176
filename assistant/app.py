"""``StudyAssistant``: the answer pipeline built from a config (index opened, model loaded).

    assistant = StudyAssistant.from_config(None)          # bundled corpus and model
    answer = assistant.ask("L1正则为什么容易产生稀疏解？")
    answer.text, answer.citations, answer.refused
"""

from __future__ import annotations

from assistant.answer.pipeline import AnswerPipeline
from assistant.config import Config
from assistant.indexing import open_search_index
from assistant.llm import load_chat_model


class StudyAssistant(AnswerPipeline):
    """The front door of the Python API: ``AnswerPipeline`` plus the constructors that read a config."""

    @classmethod
    def from_config(cls, path=None, progress: bool = True, rag: bool = True, **overrides) -> "StudyAssistant":
        """Build from a TOML config (None = defaults); overrides by dotted name, e.g. ``**{"llm.device": "cpu"}``."""
        return cls.from_settings(Config.load(path).with_overrides(**overrides), progress=progress, rag=rag)

    @classmethod
    def from_settings(cls, config: Config, progress: bool = True, rag: bool = True) -> "StudyAssistant":
        """Build from a loaded ``Config``: open the index, resolve and load the model."""
        index = open_search_index(config, progress=progress)
        model = load_chat_model(config.llm, config.data_path, progress=progress)
        return cls(index, model, config.answer, rag=rag)
