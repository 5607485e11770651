"""The Redis bucket store against the real Redis at 127.0.0.1:6379: the contract the in-process
store passes too, one limit shared by two gateway processes, and a Redis that is down: 503 by
default, admitted when the settings say open."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from support.servers import start_gateway

from aistack.access.buckets import RedisBuckets
from aistack.testing.ratelimit import BucketsContract

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class TestRedisBuckets(BucketsContract):
    @pytest.fixture
    async def buckets(self):
        made = RedisBuckets("redis://127.0.0.1:6379/0", f"aistack-test:{uuid.uuid4().hex}:")
        yield made
        await made.close()


async def test_concurrent_calls_share_round_trips_and_each_gets_its_own_answer() -> None:
    import asyncio

    from aistack.access.buckets import take

    buckets = RedisBuckets("redis://127.0.0.1:6379/0", f"aistack-test:{uuid.uuid4().hex}:")
    trips = []
    pipeline = buckets.client.pipeline
    buckets.client.pipeline = lambda **kwargs: trips.append(1) or pipeline(**kwargs)
    try:
        decisions = await asyncio.gather(*(take(buckets, "shared", 10, 60) for _ in range(16)))
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))  # ten taken, one each
        assert sum(not d.allowed for d in decisions) == 6
        assert 1 <= len(trips) < 16  # the calls waiting while one trip was out went together
    finally:
        await buckets.close()


async def test_a_flushed_script_is_loaded_again() -> None:
    from aistack.access.buckets import take

    buckets = RedisBuckets("redis://127.0.0.1:6379/0", f"aistack-test:{uuid.uuid4().hex}:")
    try:
        assert (await take(buckets, "k", 5, 60)).remaining == 4
        await buckets.client.script_flush()  # as a Redis restart would
        assert (await take(buckets, "k", 5, 60)).remaining == 3
    finally:
        await buckets.close()


def test_two_gateways_sharing_redis_enforce_one_limit(tmp_path: Path) -> None:
    env = {"AISTACK_DEPLOY__RATE_LIMIT__ENABLED": "true", "AISTACK_DEPLOY__RATE_LIMIT__BACKEND": "redis",
           "AISTACK_DEPLOY__RATE_LIMIT__BURST": "5", "AISTACK_DEPLOY__RATE_LIMIT__REQUESTS_PER_MINUTE": "6",
           "AISTACK_DEPLOY__RATE_LIMIT__KEY_PREFIX": f"aistack-test:{uuid.uuid4().hex}:",
           "AISTACK_SERVER__API_KEYS": "[shared-key]"}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    gateways = [start_gateway(env, tmp_path / name, name) for name in ("one", "two")]
    try:
        headers = {"Authorization": "Bearer shared-key"}
        codes = [httpx.get(gateways[i % 2].url + "/v1/models", headers=headers).status_code for i in range(10)]
        assert codes == [200] * 5 + [429] * 5  # five in all, whichever instance answered
        other = httpx.get(gateways[1].url + "/v1/models", headers={"Authorization": "Bearer wrong"})
        assert other.status_code == 401  # authentication comes first
    finally:
        for gateway in gateways:
            gateway.stop()


@pytest.mark.parametrize("on_down", ["closed", "open"])
def test_a_redis_that_is_down_refuses_or_admits_as_configured(tmp_path: Path, on_down: str) -> None:
    from support.servers import free_port

    env = {"AISTACK_DEPLOY__RATE_LIMIT__ENABLED": "true", "AISTACK_DEPLOY__RATE_LIMIT__BACKEND": "redis",
           "AISTACK_DEPLOY__RATE_LIMIT__REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens
           "AISTACK_DEPLOY__RATE_LIMIT__ON_STORE_DOWN": on_down}
    gateway = start_gateway(env, tmp_path, f"redis-down-{on_down}")
    try:
        answer = httpx.get(gateway.url + "/v1/models", timeout=10)
        health = httpx.get(gateway.url + "/health", timeout=10)
    finally:
        gateway.stop()
    assert health.status_code == 200
    if on_down == "closed":
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "backend_unavailable"
        assert "quota store is unavailable" in answer.json()["error"]["message"]
        assert "127.0.0.1" not in answer.text
    else:
        assert answer.status_code == 200
