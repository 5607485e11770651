"""The Redis limiter against the real Redis at 127.0.0.1:6379: the rate limiter contract the
in-process limiter passes too, and one limit shared by two gateway processes."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from support.servers import start_gateway

from aistack.deploy.ratelimit import RedisLimiter
from aistack.settings.deploy import RateLimitSettings
from aistack.testing.ratelimit import RateLimiterContract

pytestmark = pytest.mark.integration


def settings(**fields: object) -> RateLimitSettings:
    return RateLimitSettings(key_prefix=f"aistack-test:{uuid.uuid4().hex}:", **fields)


class TestRedisLimiter(RateLimiterContract):
    @pytest.fixture
    def make_limiter(self):
        made: list[RedisLimiter] = []

        def make(capacity: float, per_minute: float) -> RedisLimiter:
            made.append(RedisLimiter(settings(), capacity, per_minute))
            return made[-1]

        yield make
        for limiter in made:
            limiter.close()


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
