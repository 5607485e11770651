"""Token buckets on a scripted clock, and the limits and budgets on the gateway (fake backend:
control flow): the gateway-wide default, a team's and a key's own quotas, a spent budget."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from support.gateway import CHAT, client_for, make_settings, value

from aistack.access.buckets import MemoryBuckets
from aistack.testing.ratelimit import BucketsContract

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


class TestMemoryBuckets(BucketsContract):
    @pytest.fixture
    def buckets(self):
        return MemoryBuckets()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = MemoryBuckets(clock)
    decisions = [limiter.take_now("k", 20, 30) for _ in range(21)]
    assert [d.allowed for d in decisions] == [True] * 20 + [False]
    assert decisions[0].remaining == 19 and decisions[19].remaining == 0
    assert decisions[20].retry_after == pytest.approx(2.0) and decisions[20].retry_after_seconds == 2
    assert decisions[20].reset_seconds == pytest.approx(40.0)  # 20 tokens at 0.5/s
    clock.now += 1.0
    assert not limiter.take_now("k", 20, 30).allowed  # half a token
    clock.now += 1.0
    assert limiter.take_now("k", 20, 30).allowed
    assert limiter.take_now("other", 20, 30).remaining == 19  # every key has its own bucket
    clock.now += 3600
    assert limiter.take_now("k", 20, 30).remaining == 19  # never more than the burst


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
    tokens = MemoryBuckets(clock)
    assert tokens.take_now("k", 100, 100, cost=0).allowed  # looks only
    assert tokens.take_now("k", 100, 100, 150, force=True).remaining == 0  # an answer used more than was left
    refused = tokens.take_now("k", 100, 100, cost=0)
    assert not refused.allowed and refused.retry_after == pytest.approx(51 / (100 / 60))  # out of debt
    clock.now += 31
    assert tokens.take_now("k", 100, 100, cost=0).allowed


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


async def _team_key(http, team: dict, **key: object) -> dict[str, str]:
    admin = {"Authorization": "Bearer admin"}
    assert (await http.post("/v1/admin/teams", json=team, headers=admin)).status_code == 201
    made = await http.post("/v1/admin/keys", json={"team": team["name"], **key}, headers=admin)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


async def test_a_teams_requests_per_minute_are_shared_by_its_keys_and_a_keys_own_are_its_own() -> None:
    settings = make_settings()
    settings.deploy.admin_keys = [SecretStr("admin")]
    http, container = await client_for(settings)
    try:
        red = await _team_key(http, {"name": "red", "requests_per_minute": 3})
        admin = {"Authorization": "Bearer admin"}
        second = {"Authorization": "Bearer " + (await http.post(
            "/v1/admin/keys", json={"team": "red"}, headers=admin)).json()["secret"]}
        codes = [(await http.get("/v1/models", headers=key)).status_code for key in (red, second, red, second)]
        limited = await http.get("/v1/models", headers=red)
        slow = await _team_key(http, {"name": "blue"}, requests_per_minute=1)
        own = [(await http.get("/v1/models", headers=slow)).status_code for _ in range(2)]
    finally:
        await container.close()
    assert codes == [200, 200, 200, 429]  # three for the team, whichever key
    assert "team red" in limited.json()["error"]["message"] and limited.headers["retry-after"] == "20"
    assert own == [200, 429]


async def test_a_spent_budget_answers_insufficient_quota_and_lets_nothing_through() -> None:
    settings = make_settings()
    settings.deploy.admin_keys = [SecretStr("admin")]
    http, container = await client_for(settings)
    try:
        key = await _team_key(http, {"name": "red", "token_budget": 12, "budget_period": "day"})
        answers = [await http.post("/v1/chat/completions", json=CHAT, headers=key) for _ in range(4)]
        models = await http.get("/v1/models", headers=key)
        metrics = (await http.get("/metrics")).text
    finally:
        await container.close()
    # each answer uses 5 tokens: 5, 10, 15 (past 12 by the one in flight), then nothing
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    error = answers[3].json()["error"]
    assert error["type"] == error["code"] == "insufficient_quota"
    assert "team red's daily token budget (15 of 12 tokens used)" in error["message"]
    assert models.status_code == 429  # every route, not only the ones that spend tokens
    assert value(metrics, "llm_requests_rejected_total", model="*", reason="budget") == 2
