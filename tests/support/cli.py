"""The `aistack` command as a user runs it: a real process, with a clean AISTACK_* environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AISTACK = str(Path(sys.executable).parent / "aistack")


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}
    return subprocess.run([AISTACK, *args], capture_output=True, text=True, timeout=120, input=stdin,
                          env={**clean, "AISTACK_PROFILES": "test", "COLUMNS": "120", **(env or {})})


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command in this process (typer's CliRunner): the same exit code and output as `run`
    (returncode, stdout, stderr), without a Python start-up (about 2.4 s of CPU each; 10 s with
    MLflow). Each command closes what it opened (models, the embedded store and its lock), so any
    command runs here but one that serves or is tested as a process (signals, a lock another
    process holds)."""
    import logging
    import traceback

    from typer.testing import CliRunner

    from aistack.cli.common import console, errors
    from aistack.cli.main import app
    from aistack.logs import stop_writer

    unset = {k: None for k in os.environ if k.startswith("AISTACK_")}
    environment = {**unset, "AISTACK_PROFILES": "test", "COLUMNS": "120", **(env or {})}
    for output in (console, errors):  # rich read COLUMNS once, at import: a process reads it at its start
        output.width = int(environment["COLUMNS"])
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        done = CliRunner().invoke(app, list(args), env=environment)
        stderr = done.stderr
        if done.exception is not None and not isinstance(done.exception, SystemExit):  # printed, as a process would
            stderr += "".join(traceback.format_exception(done.exception))
        return subprocess.CompletedProcess(["aistack", *args], done.exit_code, done.stdout, stderr)
    finally:  # a command that set up logging (serve) wrote to the runner's streams, which are closed now
        stop_writer()
        root.handlers[:], root.level = handlers, level
