"""The Redis limiter against the real Redis at 127.0.0.1:6379: the same counts as the in-process
limiter, and one limit shared by two gateway processes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from support.servers import start_gateway

from aistack.deploy.ratelimit import MemoryLimiter, RedisLimiter
from aistack.settings.deploy import RateLimitSettings

pytestmark = pytest.mark.integration


def settings(**fields: object) -> RateLimitSettings:
    return RateLimitSettings(key_prefix=f"aistack-test:{uuid.uuid4().hex}:", **fields)


def test_redis_and_memory_give_the_same_counts() -> None:
    config = settings(requests_per_minute=30, burst=20)
    redis = RedisLimiter(config, 20, 30)
    memory = MemoryLimiter(20, 30)
    try:
        for limiter in (redis, memory):
            burst = [limiter.acquire("k") for _ in range(25)]
            assert [d.allowed for d in burst] == [True] * 20 + [False] * 5
            assert [d.remaining for d in burst[:3]] == [19, 18, 17]
            assert 1.5 < burst[-1].retry_after <= 2.0
        time.sleep(2.1)  # one token back at 0.5/s
        for limiter in (redis, memory):
            assert [limiter.acquire("k").allowed for _ in range(2)] == [True, False]
    finally:
        redis.close()


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


def test_token_buckets_agree_too() -> None:
    config = settings()
    redis = RedisLimiter(config, 100, 100, prefix="tokens:")
    memory = MemoryLimiter(100, 100)
    try:
        for limiter in (redis, memory):
            assert limiter.acquire("k", cost=0).allowed
            limiter.acquire("k", 150, force=True)
            refused = limiter.acquire("k", cost=0)
            assert not refused.allowed and 29 < refused.retry_after <= 30.6
    finally:
        redis.close()
