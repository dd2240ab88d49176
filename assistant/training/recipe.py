"""The train-lora job: build the examples a recipe describes, check them, train, report.

    examples = recipe_examples(index, answer_config, Recipe())          # the shipped recipe
    differences = compare_dataset(examples, shipped_dataset())           # [] when they match
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from index import SearchIndex

from assistant.answer.settings import SOURCE_SCOPES, AnswerConfig
from assistant.training.examples import (
    TARGET_CHARS,
    TARGET_POINTS,
    SFTExample,
    build_sft_examples,
    dataset_hash,
    prompt_settings,
    reference_examples,
    training_answer,
)
from assistant.training.questions import overlapping
from assistant.training.trainer import METADATA


@dataclass(frozen=True)
class Recipe:
    """How the training prompts and targets are built; None = the shipped recipe's value."""

    source_scope: str | None = None  # "section" or "chunk": what the sources' texts are drawn from
    source_chars: int | None = None  # longest source text in a prompt, in characters (0 = whole)
    related_share: float | None = None  # sections scored under this share of the top one's are left out
    target_points: int = TARGET_POINTS  # most points of its source a target answer gives
    target_chars: int = TARGET_CHARS  # longest target answer, in characters
    seed: int = 0  # example order and the random choices in building them
    sections: tuple[str, ...] | None = None  # the sections the questions are about (None: every one)

    def __post_init__(self):
        if self.source_scope is not None and self.source_scope not in SOURCE_SCOPES:
            raise ValueError(f"source_scope should be one of {SOURCE_SCOPES}, got {self.source_scope!r}")
        if self.source_chars is not None and self.source_chars < 0:
            raise ValueError(f"--source-chars should be >= 0, got {self.source_chars}")
        for flag, value in (("--target-points", self.target_points), ("--target-chars", self.target_chars)):
            if value < 1:
                raise ValueError(f"{flag} should be positive, got {value}")

    @classmethod
    def recorded(cls, prompt: dict, seed: int = 0) -> "Recipe":
        """The recipe a training.json's ``dataset.prompt`` records."""
        sections = prompt.get("sections")
        return cls(source_scope=prompt["scope"], source_chars=prompt["source_chars"],
                   related_share=prompt["related_share"], target_points=prompt.get("max_points", TARGET_POINTS),
                   target_chars=prompt.get("max_chars", TARGET_CHARS), seed=seed,
                   sections=None if sections is None else tuple(sections))

    def prompt(self, answer: AnswerConfig) -> dict:
        """``build_sft_examples``' prompt and target arguments (recorded in training.json)."""
        chosen = training_answer(answer, source_scope=self.source_scope, source_chars=self.source_chars,
                                 related_share=self.related_share)
        settings = {**prompt_settings(chosen), "max_points": self.target_points, "max_chars": self.target_chars}
        return settings if self.sections is None else {**settings, "sections": list(self.sections)}


def recipe_examples(index: SearchIndex, answer: AnswerConfig, recipe: Recipe) -> list[SFTExample]:
    """The training examples ``recipe`` builds over ``index`` (``answer``: the served settings, for k
    and the gate that decides which refusals reach the model)."""
    unknown = [ref for ref in recipe.sections or () if ref not in index.sections]
    if unknown:
        raise ValueError(f"{len(unknown)} of the recipe's sections are not in this corpus (e.g. {unknown[0]}): "
                         "was the adapter trained on another --corpus?")
    return build_sft_examples(index, **recipe.prompt(answer), gate=answer, seed=recipe.seed)


def held_out_references(index: SearchIndex, answer: AnswerConfig, recipe: Recipe, examples: list[SFTExample],
                        held_out) -> list[SFTExample]:
    """Reference answers for the held-out questions, after checking no training question copies one."""
    leaks = overlapping([e.question for e in examples], [q.question for q in held_out])
    if leaks:
        raise ValueError(f"{len(leaks)} training question(s) overlap the held-out set, e.g. {leaks[0]}")
    settings = {key: value for key, value in recipe.prompt(answer).items() if key != "sections"}
    return reference_examples(index, held_out, **settings) if held_out else []


def shipped_dataset(adapter: str | Path | None = None) -> dict:
    """The ``dataset`` record of an adapter's training.json (default: the shipped adapter's)."""
    if adapter is None:
        text = resources.files("assistant").joinpath(f"data/adapter/{METADATA}").read_text("utf-8")
    else:
        path = Path(adapter) / METADATA
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: --check needs an adapter folder written by train-lora.")
        text = path.read_text("utf-8")
    return json.loads(text)["dataset"]


def compare_dataset(examples: list[SFTExample], recorded: dict) -> list[str]:
    """How ``examples`` differ from a recorded dataset (count, kinds, sha256); [] when they match."""
    kinds = dict(Counter(e.kind for e in examples))
    differences = []
    if len(examples) != recorded.get("examples"):
        differences.append(f"{len(examples)} examples, the adapter was trained on {recorded.get('examples')}")
    if kinds != recorded.get("kinds"):
        differences.append(f"kinds {kinds}, recorded {recorded.get('kinds')}")
    if dataset_hash(examples) != recorded.get("sha256"):
        differences.append("the examples' contents differ (sha256)")
    return differences
