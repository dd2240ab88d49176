"""Assistant: configuration, retrieval evaluation and the `study-assistant` CLI."""

from assistant.config import Config, default_data_dir

__all__ = ["Config", "default_data_dir"]
