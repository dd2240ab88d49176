"""`serve` start-up: a first start on an empty data dir (index build + model conversion), then later
starts that find both saved, each timed from the process start to the page answering HTTP 200.

    python benchmarks/serve_start.py                     # 1 first start, 3 later starts, default corpus
    python benchmarks/serve_start.py --later 5 --corpus seed

Each run starts `study-assistant serve --port P` with `STUDY_ASSISTANT_HOME` pointing at a
temporary folder (the same one for every run, emptied before the first), reads the "Ready in" line
it prints and polls the page until it answers, then stops the process. Prints the figures and writes
benchmarks/results/serve_start.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_start(command: list[str], home: Path, timeout_s: float) -> dict:
    port = free_port()
    env = {**os.environ, "STUDY_ASSISTANT_HOME": str(home)}
    started = time.perf_counter()
    process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(process.stderr), daemon=True)
    reader.start()
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}:\n{''.join(said)[-2000:]}")
            if time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"serve did not answer within {timeout_s:.0f} s:\n{''.join(said)[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        page_s = time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    ready = next((float(m.group(1)) for line in said if (m := re.search(r"Ready in ([\d.]+) s", line))), None)
    return {"page_s": round(page_s, 2), "ready_line_s": ready}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=None, help="corpus to serve (default: the product's default)")
    parser.add_argument("--later", type=int, default=3, help="later starts to time")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "serve_start.json"))
    args = parser.parse_args()

    executable = shutil.which("study-assistant") or str(Path(sys.executable).parent / "study-assistant")
    command = [executable, "serve"] + (["--corpus", args.corpus] if args.corpus else [])
    with tempfile.TemporaryDirectory(prefix="serve-start-") as tmp:
        home = Path(tmp)
        first = one_start(command, home, args.timeout)
        print(f"first start (builds the index, converts the model): page after {first['page_s']:.1f} s", flush=True)
        saved_mb = sum(p.stat().st_size for p in home.rglob("*") if p.is_file()) / 2**20
        later = []
        for i in range(args.later):
            later.append(one_start(command, home, args.timeout))
            print(f"later start {i + 1}: page after {later[-1]['page_s']:.1f} s", flush=True)
    result = {"corpus": args.corpus or "default", "first": first, "later": later,
              "later_median_s": statistics.median(r["page_s"] for r in later) if later else None,
              "data_dir_mb": round(saved_mb, 1)}
    if later:
        print(f"later starts, median {result['later_median_s']:.1f} s "
              f"({min(r['page_s'] for r in later):.1f}–{max(r['page_s'] for r in later):.1f})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1), "utf-8")


if __name__ == "__main__":
    main()
