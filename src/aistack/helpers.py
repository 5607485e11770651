"""Helper processes: work that could crash, hang or hold the interpreter (llama.cpp's grammar
parser, a 20,000-page PDF) runs in a child process, one JSON line per request and per answer.

A crash or a timeout kills only the child (its whole process group), and the caller gets an
answer saying so; the next request starts a new child. The child dies with its parent
(PR_SET_PDEATHSIG) and when its stdin closes, with a memory limit so a runaway input fails with
MemoryError instead of swapping the host."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("aistack.helpers")
PR_SET_PDEATHSIG = 1


class HelperProcess:
    """One child in its own process group, started on first use and after a crash; one request
    at a time (callers wait on a lock)."""

    def __init__(self, module: str, timeout: float, command: list[str] | None = None):
        self.module, self.timeout = module, timeout
        self.command = command or [sys.executable, "-m", module]
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """The child's answer; when it crashed, was killed or timed out: {"error": why,
        "failed": "crashed" | "killed" | "timeout"} ("killed" and "timeout" may pass next time)."""
        with self._lock:
            proc = self._running()
            assert proc.stdin and proc.stdout
            try:
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
                ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
                line = proc.stdout.readline() if ready else b""
            except (BrokenPipeError, OSError):
                ready, line = [proc.stdout], b""
            if line:
                return json.loads(line)
            if ready:  # end of file: the child died; its exit status follows its pipes closing
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            returncode = proc.poll()
            self._stop()
            log.warning("%s %s", self.module, "timed out" if returncode is None else "crashed",
                        extra={"fields": {"returncode": returncode}})
            if returncode is None:
                return {"error": f"it took longer than {self.timeout:.0f} s", "failed": "timeout"}
            if returncode == -signal.SIGKILL:  # killed from outside (OOM killer, operator), not by the input
                return {"error": "the helper process was stopped; try again", "failed": "killed"}
            return {"error": "the helper process crashed on it", "failed": "crashed"}

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          start_new_session=True)  # stderr: the gateway log
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe:
                pipe.close()

    def close(self) -> None:
        with self._lock:
            self._stop()


# -- the child's side --------------------------------------------------------------------------


def die_with_parent() -> None:
    """SIGKILL when the thread that started this process ends: a worker thread of the gateway's
    executor, which lives as long as the gateway; the next request then starts a new helper."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        sys.exit(0)


def serve(answer: Callable[[dict[str, Any]], dict[str, Any]], memory_limit: int) -> None:
    """The child's loop: one JSON request a line on stdin, one JSON answer a line on stdout."""
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    for line in sys.stdin:
        replies.write(json.dumps(answer(json.loads(line))) + "\n")
        replies.flush()
