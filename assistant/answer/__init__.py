"""The answer pipeline and its stages (no torch here: the model is reached through ``ChatModel``)."""

from assistant.answer.pipeline import Answer, AnswerPipeline
from assistant.answer.settings import SOURCE_SCOPES, AnswerConfig

__all__ = ["SOURCE_SCOPES", "Answer", "AnswerConfig", "AnswerPipeline"]
