"""The study assistant: grounded answers (``StudyAssistant``), its config, drill mode and the CLI.

Subpackages: ``answer`` (the pipeline's stages), ``llm`` (``ChatModel`` and its backends),
``training`` (LoRA), ``drill``.
"""

from assistant.answer import Answer, AnswerConfig
from assistant.app import StudyAssistant
from assistant.config import Config, default_data_dir
from assistant.drill import DrillSession
from assistant.llm import ChatModel, GenerationOptions

__all__ = ["Answer", "AnswerConfig", "ChatModel", "Config", "DrillSession", "GenerationOptions", "StudyAssistant",
           "default_data_dir"]
