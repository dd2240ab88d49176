"""Cold start: a fresh `study-assistant ask` process, from its start to the answer's first printed
piece and to its exit, with the index and the converted model already in the data dir.

    python benchmarks/cold_start.py                       # 3 runs of the default question
    python benchmarks/cold_start.py --runs 5 --question "L1正则为什么更容易产生稀疏解？"
    python benchmarks/cold_start.py --runs 5 --compare-autotokenizer --out benchmarks/results/cold_start_tokenizer.json

Each run starts `study-assistant ask QUESTION` (streaming, as a user runs it) and reads its
standard output as it comes. One untimed run first builds the index and converts the model if
they are missing. Prints the medians and writes benchmarks/results/cold_start.json.
``--compare-autotokenizer`` interleaves runs that load the tokenizer with ``AutoTokenizer`` instead of
reading tokenizer.json directly (what ``load_tokenizer`` does) and reports both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(command: list[str]) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = None
    output = b""
    while chunk := os.read(process.stdout.fileno(), 4096):
        if first is None and chunk.strip():
            first = time.perf_counter() - started
        output += chunk
    process.wait()
    total = time.perf_counter() - started
    if process.returncode or first is None:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode} after printing "
                           f"{'nothing' if first is None else 'part of an answer'}")
    return {"first_piece_s": round(first, 3), "exit_s": round(total, 3),
            "answer_head": output.decode("utf-8", "replace")[:120]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--question", default="Dropout为什么能防止过拟合？")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-autotokenizer", action="store_true",
                        help="interleave runs that load the tokenizer with AutoTokenizer")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cold_start.json"))
    args = parser.parse_args()

    executable = shutil.which("study-assistant") or str(Path(sys.executable).parent / "study-assistant")
    commands = {"shipped": [executable, "ask", args.question]}
    if args.compare_autotokenizer:
        commands["autotokenizer"] = [sys.executable, "-c", (
            "import sys; import assistant.llm.tokenizer as g; g.WHOLE_JSON_TOKENIZERS.clear(); "
            "from assistant.cli import main; raise SystemExit(main(sys.argv[1:]))"), "ask", args.question]
    one_run(commands["shipped"])  # builds or converts whatever is missing; not timed
    runs = {name: [] for name in commands}
    for i in range(args.runs):
        for name, command in commands.items():
            runs[name].append(one_run(command))
            print(f"  run {i + 1} {name}: first piece {runs[name][-1]['first_piece_s']:.2f} s, "
                  f"exit {runs[name][-1]['exit_s']:.2f} s", flush=True)

    medians = {name: {"first_piece_median_s": statistics.median(r["first_piece_s"] for r in rows),
                      "exit_median_s": statistics.median(r["exit_s"] for r in rows)} for name, rows in runs.items()}
    result = {"question": args.question, "runs": runs["shipped"], **medians["shipped"]}
    if "autotokenizer" in runs:
        result["autotokenizer"] = {"runs": runs["autotokenizer"], **medians["autotokenizer"]}
    for name, row in medians.items():
        print(f"median {name}: first piece {row['first_piece_median_s']:.2f} s, exit {row['exit_median_s']:.2f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main()
