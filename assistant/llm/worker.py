"""The one thread every in-process model generates on.

One reply at a time per process, and compiled CUDA graphs stay on the thread that recorded them
(torch keeps the CUDA-graph manager in that thread's locals: a second model generating on a thread
of its own failed its compiled step with an AssertionError on an H200).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future


class OneThread:
    """One daemon thread that runs the calls given to ``submit`` in order (a daemon never holds up
    the exit, where a ThreadPoolExecutor would finish its reply first)."""

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def submit(self, job) -> Future:
        future: Future = Future()
        self._jobs.put((job, future))
        return future

    def _loop(self) -> None:
        while True:
            job, future = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as err:  # handed to the caller through the future
                    future.set_exception(err)
            del job, future  # do not keep the last job's model, inputs and outputs alive while waiting


_GENERATION_THREAD: OneThread | None = None
_GENERATION_THREAD_LOCK = threading.Lock()


def generation_thread() -> OneThread:
    """The one thread every generator of this process generates on: one reply at a time per
    process, and compiled CUDA graphs stay on the thread that recorded them (torch 2.11 keeps the
    CUDA-graph manager in that thread's locals: a second generator on its own thread failed its
    compiled step with an AssertionError on an H200)."""
    global _GENERATION_THREAD
    with _GENERATION_THREAD_LOCK:
        if _GENERATION_THREAD is None:
            _GENERATION_THREAD = OneThread("generate")
        return _GENERATION_THREAD
