"""Language models behind one contract, ``ChatModel``: in-process transformers, or an
OpenAI-compatible server.

    model = load_chat_model(GenerationConfig(), data_dir)   # the bundled model, converted once
    "".join(model.stream([{"role": "user", "content": "你好"}]))
"""

from pathlib import Path

from assistant.llm.base import Capabilities, ChatModel, GenerationOptions
from assistant.llm.errors import BackendError
from assistant.llm.model_files import ModelFilesError, resolve_model
from assistant.llm.settings import GenerationConfig, pick_device

__all__ = ["BackendError", "Capabilities", "ChatModel", "GenerationConfig", "GenerationOptions", "ModelFilesError",
           "load_chat_model", "pick_device", "resolve_model"]


def load_chat_model(config: GenerationConfig, data_dir: Path, progress: bool = True) -> ChatModel:
    """The model ``config`` names: on its server (``backend = "openai"``), or loaded in-process (the
    bundled one is converted on first use)."""
    if config.backend == "openai":
        from assistant.llm.openai_backend import OpenAIChatModel

        return OpenAIChatModel(config, data_dir=data_dir)
    from assistant.llm.transformers_backend import TransformersChatModel

    return TransformersChatModel.load(resolve_model(config.model, data_dir, progress=progress), config)
