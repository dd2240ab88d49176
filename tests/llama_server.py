"""A real OpenAI-compatible engine for the tests: llama-cpp-python's server on the bundled GGUF.

    with LlamaServer(gguf_path) as server:     # a free 127.0.0.1 port, up when the block starts
        server.url                              # "http://127.0.0.1:PORT/v1"
        server.stop()                           # stopped on purpose (fault tests)

It needs ``pip install 'llama-cpp-python[server]'`` (built from source; .ci/run installs it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_TIMEOUT_S = 180
MODEL_ALIAS = "bundled-0.5b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` serving ``gguf`` (and ``lora``) until the block ends."""

    def __init__(self, gguf: Path, lora: Path | None = None, n_ctx: int = 8192, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                        "--port", str(self.port), "--n_ctx", str(n_ctx), "--model_alias", MODEL_ALIAS,
                        "--interrupt_requests", "False", "--n_threads", str(os.cpu_count() or 2),
                        "--verbose", "False"]
        if lora is not None:
            self.command += ["--lora_path", str(lora)]
        self.log = log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "LlamaServer":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-cpp-python's server exited with {self.process.returncode}: "
                                   f"{' '.join(self.command)} (log: {self.log})")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama-cpp-python's server did not start within {START_TIMEOUT_S} s")

    def pause(self) -> None:
        """Stall it: the process stays, its socket accepts, nothing answers (SIGSTOP)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __exit__(self, *exc):
        self.stop()
