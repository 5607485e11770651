"""The embedded engine batches: `aistack serve` on the default engine (llama.cpp's llama-server,
supervised by the gateway) with 8 sequences. Streams progress together, usage stays exact per
request under concurrency, the engine's metrics are exported, and a killed engine is restarted
while the requests it held get a clear 503; a hung one is killed and restarted too."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.servers import ServerProcess, start_gateway

pytestmark = [pytest.mark.integration]
MODEL = "smollm2-135m-instruct"
COUNTING = "1, 2, 3, 4, 5,"  # greedy, SmolLM2 counts on past any budget here: finish_reason "length"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("batching")
    settings = {"llm": {"llamacpp": {"engine": "server", "server_health_interval": 1, "models": {
        MODEL: {"n_ctx": 512, "parallel": 8, "max_queue": 8}}}}}
    (tmp / "settings-test.yaml").write_text(json.dumps(settings))  # merged over the bundled test profile
    with start_gateway({}, tmp, "batching") as server:
        yield server


def engine_pids(gateway: ServerProcess) -> list[int]:
    """The gateway's llama-server children."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if proc.name.isdigit() and int(stat[1]) == gateway.proc.pid and stat[0] != "Z" \
                    and (proc / "comm").read_text().strip() == "llama-server":
                found.append(int(proc.name))
        except OSError:
            continue
    return found


async def stream(client: httpx.AsyncClient, max_tokens: int) -> dict:
    """One streamed completion: when its first text and its end arrived, and its usage."""
    started = time.monotonic()
    first = usage = None
    body = {"model": MODEL, "prompt": COUNTING, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/v1/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                usage = event["usage"]
            if first is None and event["choices"] and event["choices"][0]["text"]:
                first = time.monotonic() - started
    return {"first": first, "done": time.monotonic() - started, "usage": usage}


def test_eight_streams_progress_together_with_exact_usage(gateway: ServerProcess) -> None:
    """Every first token arrives before any stream finishes: batching, not queueing (queued one
    at a time, the eighth would start only after seven had finished). Each stream's usage is its
    own: the budgets differ, and each is spent exactly."""
    budgets = [40 + 3 * i for i in range(8)]

    async def run() -> list[dict]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as client:
            return await asyncio.gather(*(stream(client, n) for n in budgets))

    results = asyncio.run(run())
    assert max(r["first"] for r in results) < min(r["done"] for r in results), results
    for budget, result in zip(budgets, results):
        assert result["usage"]["completion_tokens"] == budget, (budget, result)
        assert result["usage"]["prompt_tokens"] == results[0]["usage"]["prompt_tokens"]


def test_engine_metrics_are_exported(gateway: ServerProcess) -> None:
    httpx.post(gateway.url + "/v1/chat/completions", timeout=60, json={
        "model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "Hello"}]}).raise_for_status()
    text = httpx.get(gateway.url + "/metrics").text
    assert f'llm_sequences_capacity{{model="{MODEL}"}} 8.0' in text
    assert f'llm_sequences_running{{model="{MODEL}"}} 0.0' in text
    assert f'llm_kv_cache_reserved_ratio{{model="{MODEL}"}} 0.0' in text
    assert f'llm_prompt_cache_tokens_total{{model="{MODEL}"}}' in text


def test_a_conversation_reuses_its_cached_prefix(gateway: ServerProcess) -> None:
    def cached() -> float:
        line = next(t for t in httpx.get(gateway.url + "/metrics").text.splitlines()
                    if t.startswith("llm_prompt_cache_tokens_total{"))
        return float(line.rsplit(" ", 1)[1])

    turn = [{"role": "user", "content": "Name three colours of the rainbow, please."}]
    body = {"model": MODEL, "max_tokens": 8, "temperature": 0, "messages": turn}
    answer = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=60).json()
    before = cached()
    follow_up = [*turn, answer["choices"][0]["message"], {"role": "user", "content": "And one more?"}]
    httpx.post(gateway.url + "/v1/chat/completions", json={**body, "messages": follow_up}, timeout=60).raise_for_status()
    assert cached() - before >= answer["usage"]["prompt_tokens"]  # the first turn was not evaluated again


def test_a_killed_engine_is_restarted_and_its_requests_get_503(gateway: ServerProcess) -> None:
    [pid] = engine_pids(gateway)

    async def killed_mid_way() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            body = {"model": MODEL, "prompt": COUNTING, "max_tokens": 400, "temperature": 0}
            pending = [asyncio.create_task(client.post("/v1/completions", json=body)) for _ in range(3)]
            await asyncio.sleep(1.0)
            os.kill(pid, signal.SIGKILL)
            return await asyncio.gather(*pending)

    for response in asyncio.run(killed_mid_way()):
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "backend_unavailable" and "restarted" in error["message"]
        assert "127.0.0.1" not in error["message"]
    answer = answers_again(gateway)
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] == 8
    [new_pid] = engine_pids(gateway)
    assert new_pid != pid


def answers_again(gateway: ServerProcess, within: float = 60) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        answer = httpx.post(gateway.url + "/v1/completions", timeout=60, json={
            "model": MODEL, "prompt": COUNTING, "max_tokens": 8, "temperature": 0})
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        assert answer.status_code == 503, answer.text
        time.sleep(0.5)


def test_a_hung_engine_is_killed_and_restarted(gateway: ServerProcess) -> None:
    [pid] = engine_pids(gateway)
    os.kill(pid, signal.SIGSTOP)  # alive, answering nothing: server_health_interval 1 s, 3 probes missed
    try:
        answer = answers_again(gateway)
    finally:
        if pid in engine_pids(gateway):
            os.kill(pid, signal.SIGCONT)
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] == 8
    [new_pid] = engine_pids(gateway)
    assert new_pid != pid
