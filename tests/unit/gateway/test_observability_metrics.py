"""What the instrumentation counts, on the fake backend: tokens from usage, outcomes, TTFT and
inter-token gaps for streams, queues, and the GPU gauges' absence without a GPU."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from support.gateway import CHAT, client_for, make_settings, value

from aistack.container import Container
from aistack.metrics import GpuCollector, Metrics, bucket_quantile
from aistack.client.status import parse

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    http, container = await client_for(make_settings())
    yield http, container
    await container.close()


async def metrics_text(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_tokens_equal_the_usage_of_the_responses(gateway) -> None:
    http, _ = gateway
    usages = []
    for _ in range(3):
        response = await http.post("/v1/chat/completions", json=CHAT)
        usages.append(response.json()["usage"])
    response = await http.post("/v1/completions", json={"model": "fake", "prompt": "a b c d", "max_tokens": 2})
    completion_usage = response.json()["usage"]
    text = await metrics_text(http)
    chat = {"model": "fake", "endpoint": "/v1/chat/completions"}
    assert value(text, "llm_tokens_generated_total", **chat) == sum(u["completion_tokens"] for u in usages) == 9
    assert value(text, "llm_tokens_input_total", **chat) == sum(u["prompt_tokens"] for u in usages)
    completions = {"model": "fake", "endpoint": "/v1/completions"}
    assert value(text, "llm_tokens_generated_total", **completions) == completion_usage["completion_tokens"] == 2
    assert value(text, "llm_requests_total", model="fake", status="success") == 4
    assert value(text, "llm_inference_duration_seconds_count", model="fake", request_type="chat") == 3
    assert value(text, "llm_inference_duration_seconds_count", model="fake", request_type="completion") == 1
    assert value(text, "llm_active_requests", model="fake") == 0
    # non-streamed answers have no first token to time
    assert value(text, "llm_time_to_first_token_seconds_count", model="fake") == 0


async def test_streams_count_tokens_ttft_and_gaps_without_asking_for_usage(gateway) -> None:
    http, _ = gateway
    async with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        events = [line async for line in response.aiter_lines() if line.startswith("data: {")]
    assert not any(orjson.loads(e[6:]).get("usage") for e in events)  # the client did not ask
    text = await metrics_text(http)
    assert value(text, "llm_tokens_generated_total", model="fake", endpoint="/v1/chat/completions") == 3
    assert value(text, "llm_time_to_first_token_seconds_count", model="fake") == 1
    assert value(text, "llm_inter_token_latency_seconds_count", model="fake") == 2  # 3 tokens, 2 gaps
    assert value(text, "llm_requests_total", model="fake", status="success") == 1


async def test_rag_and_library_callers_get_no_usage_chunk_they_did_not_ask_for() -> None:
    container = Container(make_settings())
    from aistack.llm.protocol import ChatCompletionRequest

    request = ChatCompletionRequest.model_validate({**CHAT, "stream": True})
    chunks = [c async for c in container.llm.chat_stream(request)]
    await container.close()
    assert not any(c.get("usage") for c in chunks)
    text = container.metrics.exposition().decode()
    assert value(text, "llm_tokens_generated_total", model="fake", endpoint="/v1/chat/completions") == 3


async def test_failures_are_counted_by_type_and_outcome(gateway) -> None:
    http, _ = gateway
    assert (await http.post("/v1/chat/completions", json={**CHAT, "model": "nope"})).status_code == 404
    assert (await http.post("/v1/chat/completions", json={**CHAT, "model": "made-up-2"})).status_code == 404
    text = await metrics_text(http)
    # unknown models share one label value: a client cannot grow the series without bound
    assert value(text, "llm_inference_errors_total", model="unknown", error_type="ModelNotFound") == 2
    assert value(text, "llm_requests_total", model="unknown", status="invalid") == 2
    assert not any("made-up" in line for line in text.splitlines())


async def test_queue_full_is_a_rejection_and_queues_are_reported() -> None:
    settings = make_settings()
    settings.llm.fake.delay = 0.05
    http, container = await client_for(settings)
    try:
        results = await asyncio.gather(*[http.post("/v1/chat/completions", json=CHAT) for _ in range(4)])
        text = await metrics_text(http)
    finally:
        await container.close()
    rejected = sum(r.status_code == 429 for r in results)
    assert rejected >= 1
    assert value(text, "llm_requests_rejected_total", model="fake", reason="queue_full") == rejected
    assert value(text, "llm_requests_total", model="fake", status="rejected") == rejected
    assert value(text, "llm_inference_errors_total", model="fake", error_type="QueueFull") == rejected
    assert value(text, "llm_queue_capacity", model="fake") == 1
    assert value(text, "llm_queue_depth", model="fake") == 0


async def test_a_stream_closed_early_is_cancelled_not_an_error() -> None:
    settings = make_settings()
    settings.llm.fake.delay = 0.02
    container = Container(settings)
    from aistack.llm.protocol import ChatCompletionRequest

    stream = container.llm.chat_stream(ChatCompletionRequest.model_validate({**CHAT, "stream": True}))
    await anext(stream)
    await stream.aclose()
    await container.close()
    text = container.metrics.exposition().decode()
    assert value(text, "llm_requests_total", model="fake", status="cancelled") == 1
    assert value(text, "llm_active_requests", model="fake") == 0
    assert value(text, "llm_inference_errors_total", model="fake", error_type="GeneratorExit") == 0


async def test_backend_health_sets_backend_up(gateway) -> None:
    http, _ = gateway
    assert (await http.get("/ready")).status_code == 200
    assert value(await metrics_text(http), "llm_backend_up", backend="fake") == 1


def test_gpu_gauges_are_absent_without_a_gpu() -> None:
    if GpuCollector().nvml is not None:
        pytest.skip("this machine has an NVIDIA driver: the gauges are rightly present")
    metrics = Metrics()
    metrics.watch_gpus()
    text = metrics.exposition().decode()
    assert "gpu_memory_used_bytes" not in text and "gpu_memory_total_bytes" not in text


def test_gpu_gauges_read_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control flow only: a stand-in NVML with two GPUs (CI has no GPU)."""
    memory = types.SimpleNamespace(used=3 * 2**30, total=80 * 2**30)
    nvml = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetCount=lambda: 2, nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetMemoryInfo=lambda h: memory,
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=40))
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    metrics = Metrics()
    metrics.watch_gpus()
    text = metrics.exposition().decode()
    assert value(text, "gpu_memory_used_bytes", gpu_id="1") == 3 * 2**30
    assert value(text, "gpu_memory_total_bytes", gpu_id="0") == 80 * 2**30
    assert value(text, "gpu_utilization_ratio", gpu_id="0") == 0.4


def test_metrics_can_be_switched_off() -> None:
    from fastapi.testclient import TestClient

    from aistack.gateway.app import create_app

    settings = make_settings()
    settings.observability.metrics = False
    assert TestClient(create_app(Container(settings))).get("/metrics").status_code == 404


@pytest.mark.parametrize(("q", "buckets", "expected"), [
    (0.5, {0.1: 0, 0.5: 10, 1.0: 20, float("inf"): 20}, 0.5),  # the rank ends a bucket exactly
    (0.75, {0.1: 0, 0.5: 10, 1.0: 20, float("inf"): 20}, 0.75),  # half-way through (0.5, 1.0]
    (0.5, {0.1: 4, float("inf"): 4}, 0.05),  # the first bucket starts at 0
    (0.99, {0.1: 1, 1.0: 1, float("inf"): 10}, 1.0),  # in +Inf: the highest finite bound
    (0.5, {0.1: 0, float("inf"): 0}, None),  # no observations
    (0.5, {}, None),
])
def test_bucket_quantile(q: float, buckets: dict[float, float], expected: float | None) -> None:
    assert bucket_quantile(q, buckets) == (pytest.approx(expected) if expected is not None else None)


async def test_status_summarises_a_scrape(gateway) -> None:
    http, _ = gateway
    for _ in range(2):
        await http.post("/v1/chat/completions", json=CHAT)
    await http.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
    [fake, unknown] = parse(await metrics_text(http))
    assert (fake.model, fake.requests, fake.tokens_generated, fake.errors) == ("fake", 2, 6, 0)
    assert fake.summary()["latency_p50_s"] is not None and fake.tokens_per_second > 0
    assert (unknown.model, unknown.requests) == ("unknown", 1)
