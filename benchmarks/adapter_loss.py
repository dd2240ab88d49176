"""Held-out reference loss of LoRA adapters on the same answers, each beside the others.

    python benchmarks/adapter_loss.py none default PATH [--questions eval/collection_heldout.jsonl] [--every 7]

The reference answers are built as ``train-lora`` builds them for its held-out loss (the shipped
recipe's prompts and targets); ``--every K`` keeps every K-th of them. Prints the mean reply-token
loss of the base model (``none``), the shipped adapter (``default``) and adapter folders, in float32
on the CPU. It measures how well a model fits the targets' form (points copied from the prompt's
sources, one a line, cited), not whether its answers read well: read answers for that.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adapters", nargs="+", help="none, default (the shipped adapter) or an adapter folder")
    parser.add_argument("--questions", default=str(REPO / "eval" / "collection_heldout.jsonl"))
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--every", type=int, default=7, help="keep every K-th reference answer (default 7)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from assistant.config import Config
    from assistant.evaluation import load_questions
    from assistant.indexing import open_search_index
    from assistant.llm.adapters import SHIPPED_ADAPTER, load_adapter
    from assistant.llm.model_files import resolve_model
    from assistant.llm.tokenizer import load_tokenizer
    from assistant.training.recipe import Recipe, held_out_references
    from assistant.training.trainer import LoraTrainingConfig, mean_loss

    config = Config().with_overrides(**{"corpus.path": args.corpus})
    index = open_search_index(config, progress=False)
    references = held_out_references(index, config.answer, Recipe(), [], load_questions(args.questions))[::args.every]
    path = resolve_model(config.llm.model, config.data_path)
    tokenizer = load_tokenizer(path)
    print(f"{len(references)} reference answers from {args.questions}")
    for name in args.adapters:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        if name != "none":
            model = load_adapter(model, SHIPPED_ADAPTER if name == "default" else name)
        loss = mean_loss(model, tokenizer, references, LoraTrainingConfig(), "cpu", progress=True, desc=name)
        print(f"{name}: {loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
