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
