"""LoRA training: SFT examples built from the corpus in the inference format, and the peft trainer."""

from assistant.training.examples import SFTExample, build_sft_examples
from assistant.training.recipe import Recipe, compare_dataset, recipe_examples
from assistant.training.trainer import LoraTrainingConfig, train_lora

__all__ = ["LoraTrainingConfig", "Recipe", "SFTExample", "build_sft_examples", "compare_dataset",
           "recipe_examples", "train_lora"]
