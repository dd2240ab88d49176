"""Assistant: configuration, grounded answers (``StudyAssistant``), LoRA, drill mode and the CLI."""

from assistant.config import Config, default_data_dir
from assistant.drill import DrillSession
from assistant.study import Answer, StudyAssistant

__all__ = ["Answer", "Config", "DrillSession", "StudyAssistant", "default_data_dir"]
