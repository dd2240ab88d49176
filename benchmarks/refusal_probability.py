"""How sure the model is of its refusals: the probability of the refusal sentence's first token
at the reply's first position, for every question that reaches the model, adapter off and on.

    python benchmarks/refusal_probability.py eval/dev.jsonl eval/refusal_fresh.jsonl \
        --out benchmarks/results/refusal_probability.json

A refusal under strong retrieval (not ``StudyAssistant._weak_retrieval``) is never shown: the
quotes answer instead. This tells whether barring it there (``answer.answer_when_confident``)
loses refusals worth having: the rows split questions by covered / out-of-corpus and strong /
weak retrieval, with how many the model would open with the refusal (its most likely first
token) and the highest probability it gave it. One forward pass a question, no generation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="+", help="eval JSONL files")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "refusal_probability.json"))
    args = parser.parse_args()

    import torch
    from tqdm import tqdm

    from assistant.evaluation import load_questions
    from assistant.followup import retrieval_query
    from assistant.prompting import build_messages, question_language, refusal_text
    from assistant.study import StudyAssistant, prompt_sources, retrieval_gate

    assistant = StudyAssistant.from_config(None, progress=False)
    generator, index, config = assistant.generator, assistant.index, assistant.config
    if generator.lora is None:
        raise SystemExit("no adapter loaded: nothing to compare (llm.adapter is none?)")
    first = {lang: generator.tokenizer(refusal_text(lang), add_special_tokens=False)["input_ids"][0]
             for lang in ("zh", "en")}
    rows = []
    for path in args.questions:
        for item in tqdm(load_questions(path), desc=Path(path).name, unit="q"):
            history = list(item.history)
            query = retrieval_query(item.question, history)
            hits = index.search(query, k=config.k)
            terms = set(index.tokenizer.tokenize_query(query))
            confidence, _, passed = retrieval_gate(index, config, item.question, terms, hits)
            if not passed:
                continue
            language = question_language(item.question)
            sources = prompt_sources(index, query, hits, config.source_chars, config.source_scope)
            inputs = generator.encode(build_messages(item.question, sources, history))
            row = {"file": path, "id": item.id, "covered": item.covered, "confidence": round(confidence, 3),
                   "strong": not assistant._weak_retrieval(confidence, hits, language)}
            for name, on in (("base", False), ("adapter", True)):
                generator.lora.switch(generator.model, on)
                with torch.inference_mode():
                    probs = torch.softmax(generator.model(**inputs).logits[0, -1].float(), -1)
                refusal = first[language]
                row[name] = {"p_refusal": round(float(probs[refusal]), 4), "opens_with_refusal": int(probs.argmax()) == refusal}
            rows.append(row)
    generator.lora.switch(generator.model, True)

    print("| questions | retrieval | n | base: opens with refusal | base: highest p | adapter: opens with refusal | adapter: highest p |")
    print("|---|---|---|---|---|---|---|")
    for covered in (True, False):
        for strong in (True, False):
            group = [r for r in rows if r["covered"] == covered and r["strong"] == strong]
            if not group:
                continue
            cells = [f"{sum(r[m]['opens_with_refusal'] for r in group)} | {max(r[m]['p_refusal'] for r in group):.2f}"
                     for m in ("base", "adapter")]
            print(f"| {'covered' if covered else 'out-of-corpus'} | {'strong' if strong else 'weak'} | {len(group)} | "
                  + " | ".join(cells) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"questions": args.questions, "rows": rows}, indent=1, ensure_ascii=False), "utf-8")
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
