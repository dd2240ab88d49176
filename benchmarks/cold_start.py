"""Cold start: a fresh `study-assistant ask` process, from its start to the answer's first printed
piece and to its exit, with the index and the converted model already in the data dir.

    python benchmarks/cold_start.py                       # 3 runs of the default question
    python benchmarks/cold_start.py --runs 5 --question "L1正则为什么更容易产生稀疏解？"

Each run starts `study-assistant ask QUESTION` (streaming, as a user runs it) and reads its
standard output as it comes. One untimed run first builds the index and converts the model if
they are missing. Prints the medians and writes benchmarks/results/cold_start.json.
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
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cold_start.json"))
    args = parser.parse_args()

    executable = shutil.which("study-assistant") or str(Path(sys.executable).parent / "study-assistant")
    command = [executable, "ask", args.question]
    one_run(command)  # builds or converts whatever is missing; not timed
    runs = []
    for i in range(args.runs):
        runs.append(one_run(command))
        print(f"  run {i + 1}: first piece {runs[-1]['first_piece_s']:.2f} s, exit {runs[-1]['exit_s']:.2f} s",
              flush=True)
    result = {"question": args.question, "runs": runs,
              "first_piece_median_s": statistics.median(r["first_piece_s"] for r in runs),
              "exit_median_s": statistics.median(r["exit_s"] for r in runs)}
    print(f"median: first piece {result['first_piece_median_s']:.2f} s, exit {result['exit_median_s']:.2f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main()
