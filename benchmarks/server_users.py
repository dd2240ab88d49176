"""Many users of the browser chat at once: in-process answers vs llama.cpp's server.

    bash benchmarks/build_llama_server.sh                       # once: -> benchmarks/.llama/llama-server
    flock /tmp/cpu.lock python benchmarks/server_users.py       # 16 users, llama-server --parallel 4
    python benchmarks/server_users.py --users 2 --out /tmp/users2.json     # quick check

Two runs, one after the other (never both at once), with the same --users questions:

1. in-process: `study-assistant serve` (the default transformers backend with the shipped LoRA
   adapter; the page generates one answer at a time, the others wait in Gradio's queue);
2. server: `llama-server -m <bundled GGUF> --lora <study-lora.gguf> --parallel P -c 4096*P`, then
   `study-assistant serve --config <[llm] backend = "openai", base_url = that server>` (the page
   lets 16 answers run at once; llama.cpp decodes P of them together, batched).

Each run waits for the page, asks one warm-up question (not counted), then sends --users distinct
questions at once through gradio_client (api_name "/respond", the page's chat handler; greedy
decoding, k = 3 sources, adapter on) and records per user: answered (a non-empty final answer that
is not a "⚠️" error), seconds to the first streamed answer text (time to first token as the user
sees it, queue wait included) and to the complete answer (sources panel filled). Per run: answered,
p50/p95 of both, the batch's wall time, answers per minute (answered / wall minutes); and the ratio
server / in-process answers per minute. Writes JSON (--out) and prints a Markdown table.

Needs: the project installed (the venv), gradio_client, and a llama-server binary
(benchmarks/build_llama_server.sh builds one from the llama-cpp-python sdist on PyPI). The bundled
GGUF and the GGUF adapter are exported into <data-dir>/llama-server/ on first use
(`study-assistant export-model` / `export-adapter --format gguf`). Keep --data-dir across runs: the
index and the converted in-process model are built there once (minutes on a small CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LLAMA = REPO / "benchmarks" / ".llama" / "llama-server"
FALLBACK_LLAMA = Path("/tmp/llamabuild/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin/llama-server")
MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
ADAPTER_FILE = "study-lora.gguf"
SLOT_TOKENS = 4096  # llama-server's -c is shared by the slots: each gets -c / --parallel
K, TEMPERATURE = 3, 0.0  # the page's defaults: three sources, greedy decoding
WARMUP = "什么是哈达玛积？"
# Distinct interview questions the bundled collection answers (each one's section is in the top 2).
QUESTIONS = [
    "什么是过拟合？",
    "Dropout有什么作用？",
    "BatchNorm和LayerNorm有什么区别？",
    "What is a saddle point?",
    "Transformer中为什么要除以根号dk？",
    "梯度消失的原因是什么？",
    "How do you choose the classification threshold that maximises F1?",
    "L1正则为什么比L2正则更容易产生稀疏解？",
    "What is KV cache?",
    "数据类别不平衡怎么处理？",
    "Why does Transformer use multi-head attention?",
    "深度学习中有哪些经典的优化器？",
    "What are precision, recall and F1 score?",
    "什么是交叉熵？",
    "How does self-attention work in a Transformer?",
    "什么是欠拟合，怎么解决？",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default): percentile([1, 2, 3, 4], 50) -> 2.5."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 2)


def message_text(message: dict) -> str:
    """The text of one chat message as gradio_client returns it (a string or a list of parts)."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


class Process:
    """A child process in its own process group, its output in a log file; stopped on exit."""

    def __init__(self, name: str, command: list[str], log_path: Path):
        self.name, self.log_path = name, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(log_path, "w", encoding="utf-8")
        log(f"start {name}: {' '.join(command)}  (log: {log_path})")
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(command, cwd=REPO, stdout=self.log_file, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy())

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        self.log_file.close()
        log(f"stopped {self.name} (exit {self.popen.returncode})")


def wait_http(url: str, process: Process, timeout: float, what: str) -> float:
    """Poll ``url`` until it answers 200; the seconds since the process started."""
    deadline = time.perf_counter() + timeout
    while True:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited ({process.popen.returncode}) before {what}:\n{process.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return round(time.perf_counter() - process.started, 1)
        except Exception:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{process.tail()}")
        time.sleep(1)


def ask(url: str, question: str, start: threading.Barrier | None, timeout: float) -> dict:
    """One user: connect, (wait for the others,) send the question, time its first text and the end."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    if start is not None:
        start.wait()
    sent = time.perf_counter()
    first = None
    outputs = None
    error = None
    try:
        # the page's inputs (the history State is not part of the API): greedy, k sources, adapter on, all chapters
        job = client.submit(message=question, chat=[], k=K, temperature=TEMPERATURE, adapter=True, scope=[],
                            api_name="/respond")
        for outputs in job:  # every streamed update: (input box, chat messages, sources panel)
            if first is None and outputs and outputs[1]:
                text = message_text(outputs[1][-1]).strip()
                if text and text != "…":
                    first = time.perf_counter() - sent
            if time.perf_counter() - sent > timeout:
                job.cancel()
                raise TimeoutError(f"no complete answer after {timeout:.0f} s")
        outputs = job.result(timeout=timeout)  # the final update; raises what the app raised
    except Exception as err:  # one user's failure is recorded, not fatal
        error = f"{type(err).__name__}: {err}"[:300]
    total = time.perf_counter() - sent
    chat = outputs[1] if outputs else []
    answer = message_text(chat[-1]).strip() if chat else ""
    sources = outputs[2] if outputs and len(outputs) > 2 else ""
    if first is None and answer and answer != "…":
        first = total  # the text came only with the final update
    answered = error is None and bool(answer) and answer != "…" and not answer.startswith("⚠️")
    return {"question": question, "answered": answered,
            "first_text_s": round(first, 2) if first is not None else None, "total_s": round(total, 2),
            "answer_chars": len(answer), "sources": sources.count("\n#### [") + sources.startswith("#### ["),
            "refused": "资料未覆盖" in answer or "Not covered" in answer,
            "error": error or (answer[:300] if answer.startswith("⚠️") else None), "answer": answer}


def run_users(url: str, questions: list[str], timeout: float) -> dict:
    """All ``questions`` at once, one gradio_client per user; the batch's stats."""
    log(f"warm-up question: {WARMUP}")
    warm = ask(url, WARMUP, None, timeout)
    log(f"  warm-up: answered={warm['answered']} first {warm['first_text_s']} s, total {warm['total_s']} s")
    start = threading.Barrier(len(questions) + 1)
    with ThreadPoolExecutor(len(questions)) as pool:
        futures = [pool.submit(ask, url, q, start, timeout) for q in questions]
        start.wait(timeout=120)  # every client connected: send them all now
        began = time.perf_counter()
        users = [f.result() for f in futures]
    wall = max(u["total_s"] for u in users)  # all were sent at `began`
    log(f"  batch done in {time.perf_counter() - began:.1f} s")
    answered = [u for u in users if u["answered"]]
    first = [u["first_text_s"] for u in answered if u["first_text_s"] is not None]
    total = [u["total_s"] for u in answered]
    for u in users:
        log(f"  {'ok ' if u['answered'] else 'ERR'} first {u['first_text_s']} s, total {u['total_s']} s, "
            f"{u['answer_chars']} chars, {u['sources']} sources  {u['question']}"
            + (f"  [{u['error']}]" if u["error"] else ""))
    return {"users": len(users), "answered": len(answered), "all_answered": len(answered) == len(users),
            "first_text_p50_s": percentile(first, 50), "first_text_p95_s": percentile(first, 95),
            "total_p50_s": percentile(total, 50), "total_p95_s": percentile(total, 95),
            "wall_s": round(wall, 2), "answers_per_min": round(len(answered) / (wall / 60), 2) if wall else None,
            "warmup": {k: warm[k] for k in ("answered", "first_text_s", "total_s")}, "per_user": users}


def serve_command(args, port: int, config: Path | None) -> list[str]:
    command = [str(Path(sys.executable).with_name("study-assistant")), "serve", "--port", str(port),
               "--data-dir", args.data_dir]
    if args.corpus:
        command += ["--corpus", args.corpus]
    if config is not None:
        command += ["--config", str(config)]
    return command


def run_serve(args, name: str, config: Path | None, questions: list[str], logs: Path) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    serve = Process(f"serve ({name})", serve_command(args, port, config), logs / f"serve-{name}.log")
    try:
        ready = wait_http(url, serve, args.timeout, "the chat page")
        log(f"page ready after {ready} s")
        stats = run_users(url, questions, args.timeout)
        stats["page_ready_s"] = ready
        return stats
    finally:
        serve.stop()


def export_gguf(args, folder: Path) -> tuple[Path, Path]:
    """The bundled GGUF and the LoRA adapter as GGUF in ``folder``, exported once."""
    cli = str(Path(sys.executable).with_name("study-assistant"))
    model, adapter = folder / MODEL_FILE, folder / ADAPTER_FILE
    common = ["--data-dir", args.data_dir] + (["--corpus", args.corpus] if args.corpus else [])
    if not model.exists():
        log(f"exporting the bundled GGUF to {folder}")
        subprocess.run([cli, "export-model", "--out", str(folder), *common], check=True, cwd=REPO)
    if not adapter.exists():
        log(f"exporting the LoRA adapter as GGUF to {folder}")
        subprocess.run([cli, "export-adapter", "--format", "gguf", "--out", str(folder), *common], check=True, cwd=REPO)
    for path in (model, adapter):
        if not path.exists():
            raise RuntimeError(f"{path} was not written by the export")
    return model, adapter


def run_llama(args, questions: list[str], logs: Path) -> dict:
    model, adapter = export_gguf(args, Path(args.data_dir) / "llama-server")
    port = free_port()
    threads = args.threads or os.cpu_count() or 2
    command = [str(args.llama_server), "-m", str(model), "--lora", str(adapter), "--parallel", str(args.parallel),
               "-c", str(SLOT_TOKENS * args.parallel), "-t", str(threads), "--host", "127.0.0.1",
               "--port", str(port), "--no-webui"]
    server = Process("llama-server", command, logs / "llama-server.log")
    try:
        ready = wait_http(f"http://127.0.0.1:{port}/health", server, args.timeout, "llama-server")
        log(f"llama-server ready after {ready} s")
        config = logs / "server.toml"
        config.write_text(
            "[llm]\n"
            'backend = "openai"\n'
            f'base_url = "http://127.0.0.1:{port}/v1"\n'
            'model = "bundled"\n'
            f"timeout_s = {float(args.timeout)}\n"  # queued requests wait for a free slot before any byte
            f"context_tokens = {SLOT_TOKENS}\n", "utf-8")
        stats = run_serve(args, "server", config, questions, logs)
        stats["llama_server_ready_s"] = ready
        stats["llama_server_command"] = command
        return stats
    finally:
        server.stop()


def table(report: dict) -> str:
    rows = [("in-process (`serve`)", report["runs"].get("in_process")),
            (f"llama-server --parallel {report['settings']['parallel']}", report["runs"].get("server"))]
    lines = ["| run | answered | first text p50 / p95 (s) | complete p50 / p95 (s) | batch wall (s) | answers/min |",
             "|---|---|---|---|---|---|"]
    for name, run in rows:
        if not run:
            lines.append(f"| {name} | not run | | | | |")
            continue
        lines.append(f"| {name} | {run['answered']}/{run['users']} | {run['first_text_p50_s']} / "
                     f"{run['first_text_p95_s']} | {run['total_p50_s']} / {run['total_p95_s']} | "
                     f"{run['wall_s']} | {run['answers_per_min']} |")
    if report.get("ratio_answers_per_min") is not None:
        lines.append(f"\nserver / in-process answers per minute: **{report['ratio_answers_per_min']}x** (target >= 1.5x)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=16, help="simultaneous users (questions sent at once)")
    parser.add_argument("--parallel", type=int, default=4, help="llama-server slots (--parallel)")
    parser.add_argument("--llama-server", type=Path,
                        default=DEFAULT_LLAMA if DEFAULT_LLAMA.exists() or not FALLBACK_LLAMA.exists() else FALLBACK_LLAMA,
                        help=f"llama-server binary (default {DEFAULT_LLAMA}, else {FALLBACK_LLAMA})")
    parser.add_argument("--threads", type=int, default=0, help="llama-server -t (default: all CPUs)")
    parser.add_argument("--data-dir", default="/tmp/sa-bench-home", help="study-assistant data dir (kept across runs)")
    parser.add_argument("--corpus", default=None, help="corpus for serve (default: the bundled collection)")
    parser.add_argument("--only", choices=["in-process", "server"], help="run only one side")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "server_users.json"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for a start-up or one answer")
    args = parser.parse_args()
    if not 1 <= args.users <= len(QUESTIONS):
        parser.error(f"--users should be 1..{len(QUESTIONS)} (one distinct question each)")
    if args.only != "in-process" and not args.llama_server.exists():
        parser.error(f"no llama-server at {args.llama_server}: run benchmarks/build_llama_server.sh")
    args.data_dir = str(Path(args.data_dir).expanduser().resolve())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM stops the children too (finally)

    questions = QUESTIONS[: args.users]
    out = Path(args.out)
    logs = Path(args.data_dir) / "bench-logs"
    report: dict = {
        "benchmark": "server_users",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": _cpu_name(), "python": platform.python_version()},
        "settings": {"users": args.users, "parallel": args.parallel, "slot_context_tokens": SLOT_TOKENS,
                     "llama_server": str(args.llama_server), "llama_threads": args.threads or os.cpu_count(),
                     "model": "bundled Qwen2.5-Coder-0.5B-Instruct: in-process = converted from the Q4_K_M GGUF "
                              f"(transformers); server = {MODEL_FILE} (llama.cpp); both with the shipped LoRA",
                     "k": K, "temperature": TEMPERATURE, "data_dir": args.data_dir, "corpus": args.corpus or "default",
                     "questions": questions},
        "runs": {},
    }
    phases = {}
    try:
        if args.only != "server":
            log("=== in-process: study-assistant serve")
            began = time.perf_counter()
            report["runs"]["in_process"] = run_serve(args, "in-process", None, questions, logs)
            phases["in_process_s"] = round(time.perf_counter() - began, 1)
        if args.only != "in-process":
            log(f"=== server: llama-server --parallel {args.parallel} + study-assistant serve --base-url")
            began = time.perf_counter()
            report["runs"]["server"] = run_llama(args, questions, logs)
            phases["server_s"] = round(time.perf_counter() - began, 1)
    except KeyboardInterrupt:
        log("interrupted: the processes were stopped; writing what was measured")
        report["interrupted"] = True
    finally:
        report["phase_seconds"] = phases
        runs = report["runs"]
        if runs.get("in_process", {}).get("answers_per_min") and runs.get("server", {}).get("answers_per_min"):
            report["ratio_answers_per_min"] = round(runs["server"]["answers_per_min"]
                                                    / runs["in_process"]["answers_per_min"], 2)
        if runs:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
            print("\n" + table(report) + "\n", flush=True)
            log(f"wrote {out}  (process logs: {logs})")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
