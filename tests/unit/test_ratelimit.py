"""Token buckets on a scripted clock, and the limit on the gateway (fake backend: control flow)."""

from __future__ import annotations

import pytest
from support.gateway import CHAT, client_for, make_settings, value

from aistack.deploy.ratelimit import MemoryLimiter
from aistack.testing.ratelimit import RateLimiterContract

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


class TestMemoryLimiter(RateLimiterContract):
    @pytest.fixture
    def make_limiter(self):
        return MemoryLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = MemoryLimiter(20, 30, clock)
    decisions = [limiter.acquire("k") for _ in range(21)]
    assert [d.allowed for d in decisions] == [True] * 20 + [False]
    assert decisions[0].remaining == 19 and decisions[19].remaining == 0
    assert decisions[20].retry_after == pytest.approx(2.0) and decisions[20].retry_after_seconds == 2
    assert decisions[20].reset_seconds == pytest.approx(40.0)  # 20 tokens at 0.5/s
    clock.now += 1.0
    assert not limiter.acquire("k").allowed  # half a token
    clock.now += 1.0
    assert limiter.acquire("k").allowed
    assert limiter.acquire("other").remaining == 19  # every key has its own bucket
    clock.now += 3600
    assert limiter.acquire("k").remaining == 19  # never more than the burst


async def test_the_gateway_limits_each_key_with_openai_headers() -> None:
    settings = make_settings(api_keys=["alpha", "beta"])
    settings.deploy.rate_limit.enabled = True
    settings.deploy.rate_limit.burst = 2
    http, container = await client_for(settings)
    alpha = {"Authorization": "Bearer alpha"}
    try:
        ok = [await http.post("/v1/chat/completions", json=CHAT, headers=alpha) for _ in range(2)]
        limited = await http.post("/v1/chat/completions", json=CHAT, headers=alpha)
        other = await http.get("/v1/models", headers={"Authorization": "Bearer beta"})
        health = await http.get("/health")
        metrics = (await http.get("/metrics")).text
    finally:
        await container.close()
    assert [r.status_code for r in ok] == [200, 200]
    assert ok[1].headers["x-ratelimit-limit-requests"] == "2"
    assert ok[1].headers["x-ratelimit-remaining-requests"] == "0"
    assert ok[1].headers["x-ratelimit-reset-requests"].endswith("s")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert "Retry after 2s" in limited.json()["error"]["message"]
    assert other.status_code == 200 and other.headers["x-ratelimit-remaining-requests"] == "1"
    assert health.status_code == 200 and "x-ratelimit-limit-requests" not in health.headers
    assert value(metrics, "llm_requests_rejected_total", model="*", reason="rate_limit") == 1
    # the limited request never reached the model
    assert value(metrics, "llm_requests_total", model="fake", status="success") == 2


async def test_anonymous_use_is_limited_per_address_whatever_token_comes() -> None:
    """With no keys configured, a fresh random token per request used to get a fresh bucket."""
    settings = make_settings()
    settings.deploy.rate_limit.enabled = True
    settings.deploy.rate_limit.burst = 3
    http, container = await client_for(settings)
    try:
        answers = [await http.post("/v1/chat/completions", json=CHAT,
                                   headers={"Authorization": f"Bearer random-{i}"}) for i in range(6)]
    finally:
        await container.close()
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429, 429]


async def test_limits_are_off_unless_enabled() -> None:
    http, container = await client_for(make_settings())
    try:
        responses = [await http.get("/v1/models") for _ in range(30)]
    finally:
        await container.close()
    assert all(r.status_code == 200 and "x-ratelimit-limit-requests" not in r.headers for r in responses)


def test_token_bucket_charges_after_and_admits_while_not_empty() -> None:
    clock = Clock()
    tokens = MemoryLimiter(100, 100, clock)
    assert tokens.acquire("k", cost=0).allowed  # looks only
    assert tokens.acquire("k", 150, force=True).remaining == 0  # an answer used more than was left
    refused = tokens.acquire("k", cost=0)
    assert not refused.allowed and refused.retry_after == pytest.approx(51 / (100 / 60))  # out of debt
    clock.now += 31
    assert tokens.acquire("k", cost=0).allowed


async def test_the_gateway_limits_tokens_per_minute() -> None:
    settings = make_settings()
    settings.deploy.rate_limit.enabled = True
    settings.deploy.rate_limit.tokens_per_minute = 10  # each answer: 2 prompt + 3 completion tokens
    http, container = await client_for(settings)
    try:
        first = await http.post("/v1/chat/completions", json=CHAT)
        async with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as stream:
            chunks = [line async for line in stream.aiter_lines()]
        refused = await http.post("/v1/chat/completions", json=CHAT)
    finally:
        await container.close()
    assert first.json()["usage"]["total_tokens"] == 5 and "data: [DONE]" in chunks
    assert refused.status_code == 429 and "Token rate limit" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1
