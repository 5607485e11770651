"""The compose runtime's commands (control flow: no Docker engine runs on CI, so a stand-in
`docker` on PATH records what it is asked), and the process runtime's environment rule."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aistack.deploy.runtimes import ComposeRuntime, ProcessRuntime
from aistack.deploy.slots import Slot
from aistack.errors import BackendUnavailable

pytestmark = pytest.mark.unit


def test_compose_runs_the_seeds_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls.txt"
    docker = tmp_path / "docker"
    docker.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n[ \"$4\" = down ] && [ -n \"$FAIL\" ] && "
                      "{ echo 'no such service' >&2; exit 3; }\nexit 0\n")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    slot = Slot("green", "http://vllm-green:8000/v1", runtime="compose",
                spec={"compose_file": "docker-compose.vllm-green.yml"})
    runtime = ComposeRuntime()
    runtime.start(slot)
    runtime.stop(slot)
    assert calls.read_text().splitlines() == ["compose -f docker-compose.vllm-green.yml up -d",
                                              "compose -f docker-compose.vllm-green.yml down"]
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(BackendUnavailable, match="exited 3: no such service"):
        runtime.stop(slot)
    with pytest.raises(BackendUnavailable, match="no compose_file"):
        runtime.start(Slot("x", "http://x/v1", runtime="compose", spec={}))


def test_a_process_slot_gets_its_own_env_not_the_gateways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISTACK_LLM__BACKEND", "slots")
    out = tmp_path / "env.txt"
    script = f"import os; open({str(out)!r}, 'w').write(repr(sorted(k for k in os.environ if k.startswith('AISTACK_'))))"
    runtime = ProcessRuntime(tmp_path / "logs")
    slot = Slot("blue", "http://127.0.0.1:1/v1", runtime="process",
                spec={"command": [sys.executable, "-c", script], "env": {"AISTACK_HOME": "/srv/blue"}})
    runtime.start(slot)
    runtime.processes["blue"].wait(10)
    assert out.read_text() == "['AISTACK_HOME']"
    assert (tmp_path / "logs" / "blue.log").exists()
    with pytest.raises(BackendUnavailable, match="no command"):
        runtime.start(Slot("x", "http://x/v1", runtime="process", spec={}))
