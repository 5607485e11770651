"""What every rate limiter does (in memory, or one Redis script shared by gateways): a burst, then
refusals with a truthful Retry-After, a refill at the sustained rate, a bucket per key, and token
buckets that look without taking and charge an answer's usage after it, into debt if need be.

A backend's test subclasses RateLimiterContract and provides `make_limiter(capacity, per_minute)`,
a fixture returning a factory; the limiters it makes are closed by the fixture. Refills use real
time at a high rate (Redis keeps its own clock), so the suite takes about two seconds."""

from __future__ import annotations

import time
import uuid

import pytest

from aistack.deploy.ratelimit import RateLimiter


def key() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


class RateLimiterContract:
    @pytest.fixture
    def make_limiter(self):  # pragma: no cover - every backend provides it
        raise NotImplementedError

    def test_a_burst_then_refusals_with_retry_after(self, make_limiter) -> None:
        limiter: RateLimiter = make_limiter(20, 30)  # 20 at once, then 0.5 a second
        who = key()
        burst = [limiter.acquire(who) for _ in range(25)]
        assert [d.allowed for d in burst] == [True] * 20 + [False] * 5
        assert [d.remaining for d in burst[:3]] == [19, 18, 17] and burst[19].remaining == 0
        assert burst[0].limit == 20
        assert 1.5 < burst[-1].retry_after <= 2.0 and burst[-1].retry_after_seconds == 2
        assert 35 < burst[-1].reset_seconds <= 40.0  # 20 tokens at 0.5/s

    def test_the_bucket_refills_at_the_sustained_rate_and_never_past_the_burst(self, make_limiter) -> None:
        limiter: RateLimiter = make_limiter(2, 120)  # two a second
        who = key()
        assert [limiter.acquire(who).allowed for _ in range(3)] == [True, True, False]
        time.sleep(0.7)  # 1.4 tokens back: one request, not two (anything from 0.5 to 1 s would do)
        assert [limiter.acquire(who).allowed for _ in range(2)] == [True, False]
        time.sleep(1.6)  # three tokens' worth: the bucket holds two
        assert [limiter.acquire(who).allowed for _ in range(3)] == [True, True, False]

    def test_every_key_has_its_own_bucket(self, make_limiter) -> None:
        limiter: RateLimiter = make_limiter(1, 1)
        first, second = key(), key()
        assert limiter.acquire(first).allowed and not limiter.acquire(first).allowed
        assert limiter.acquire(second).allowed

    def test_a_token_bucket_looks_then_charges_usage_into_debt(self, make_limiter) -> None:
        tokens: RateLimiter = make_limiter(100, 100)
        who = key()
        assert tokens.acquire(who, cost=0).allowed and tokens.acquire(who, cost=0).remaining == 100  # looks only
        assert tokens.acquire(who, 150, force=True).remaining == 0  # an answer used more than was left
        refused = tokens.acquire(who, cost=0)
        assert not refused.allowed and 29 < refused.retry_after <= 30.6  # 51 tokens at 100/min
