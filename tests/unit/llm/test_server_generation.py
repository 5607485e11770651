"""How a failed generation on a llama-server is told apart from a lost server: an error event or a
broken stream fails that request alone while the process lives; only an exited process stops new
requests until the supervisor's restart. The server is a real child process; its HTTP answers are
scripted (control flow only)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aistack.errors import BackendUnavailable, InvalidRequest
from aistack.llm.generating import Generation
from aistack.llm.llama_server import LlamaServer
from aistack.llm.server_generation import generate_on_server
from aistack.processes import stop_group


@pytest.fixture
def server(tmp_path: Path):
    live = LlamaServer("m", ["unused"], tmp_path / "log", start_timeout=1)
    live._process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    live.url, live.key = "http://engine", "k"
    live._ready.set()
    yield live
    stop_group(live._process, 1.0)


async def generate(server: LlamaServer, body: bytes) -> list[str]:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with httpx.AsyncClient(transport=transport) as client:
        return [piece async for piece in generate_on_server(client, server, {}, Generation(prompt_tokens=1), lambda _: None)]


@pytest.mark.anyio
async def test_an_error_event_fails_the_request_and_the_engine_stays_ready(server: LlamaServer) -> None:
    event = b'data: {"content": "a", "tokens": [1]}\n\nerror: {"code": 400, "message": "bad grammar"}\n\n'
    with pytest.raises(InvalidRequest, match="refused the request"):
        await generate(server, event)
    with pytest.raises(BackendUnavailable, match=r"failed \(HTTP 500\)"):
        await generate(server, b'data: {"error": {"code": 500, "message": "oops"}}\n\n')
    assert server._ready.is_set()


@pytest.mark.anyio
async def test_a_broken_stream_from_a_live_engine_keeps_it_ready(server: LlamaServer) -> None:
    with pytest.raises(BackendUnavailable, match="broke off the request"):
        await generate(server, b'data: {"content": "a", "tokens": [1]}\n\n')  # no final event
    assert server._ready.is_set()
    assert await generate(server, b'data: {"content": "ok", "tokens": [1]}\n\ndata: {"stop": true}\n\n') == ["ok"]


@pytest.mark.anyio
async def test_a_stream_broken_by_an_exited_engine_waits_for_the_restart(server: LlamaServer) -> None:
    assert server._process is not None
    server._process.kill()
    server._process.wait()
    with pytest.raises(BackendUnavailable, match="being restarted"):
        await generate(server, b'data: {"content": "a", "tokens": [1]}\n\n')
    assert not server._ready.is_set()
    with pytest.raises(BackendUnavailable, match="is restarting"):
        await server.endpoint(wait=0.05)


@pytest.mark.anyio
async def test_a_hung_engine_is_killed_and_restarted(tmp_path: Path) -> None:
    script = Path(__file__).parents[2] / "support" / "health_server.py"
    supervised = LlamaServer("m", [sys.executable, str(script)], tmp_path / "log", start_timeout=10,
                             health_interval=0.2)
    await supervised.start()
    try:
        assert supervised._process is not None
        hung = supervised._process
        os.kill(hung.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while supervised._process is hung or not supervised._ready.is_set():
            assert time.monotonic() < deadline, "the hung server was not replaced"
            await asyncio.sleep(0.05)
        assert hung.poll() == -signal.SIGKILL  # it ignored SIGTERM while stopped
        assert (await supervised.endpoint())[0] == supervised.url
    finally:
        await supervised.close()
