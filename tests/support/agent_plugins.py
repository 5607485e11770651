"""Tools a user registers from Python (agents.plugins: [agent_plugins]), used by the resume test.

`record` numbers its calls by the ones that finished, appends `start N` and `done N` to the file
in AGENT_RECORD, and blocks on call 2 while AGENT_BLOCK exists, so a test can kill the process
in the middle of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from aistack.agents.tools import tool


@tool(timeout=600, repeatable=True)
def record(note: str) -> str:
    """Write a note to the log."""
    log = Path(os.environ["AGENT_RECORD"])
    done = log.read_text().count("done") if log.exists() else 0
    with log.open("a") as out:
        out.write(f"start {done + 1}\n")
    while done + 1 == 2 and Path(os.environ["AGENT_BLOCK"]).exists():
        time.sleep(0.1)
    with log.open("a") as out:
        out.write(f"done {done + 1}\n")
    return f"note {done + 1} written"


def kill_during_call_2(process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """SIGKILL `process` once `record` has started its second call (and so finished the first)."""
    deadline = time.monotonic() + timeout
    while "start 2" not in (log.read_text() if log.exists() else ""):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"call 2 never started:\n{process.communicate()[0]}")
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
