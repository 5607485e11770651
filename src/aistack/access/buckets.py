"""Where limits are counted: token buckets (requests or LLM tokens per minute) and period counters
(token budgets), in this process (`memory`) or in Redis (`redis`, through redis.asyncio: one Lua
script run atomically by Redis on its own clock, so every gateway sharing it enforces one limit).

A bucket's size and rate come with each call, so one store holds every key's and team's limits."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aistack.settings.deploy import RateLimitSettings


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # the bucket's size
    remaining: int  # whole requests left now
    reset_seconds: float  # until the bucket is full again
    retry_after: float  # until one request is allowed (0 when allowed)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """OpenAI's rate-limit headers (Retry-After comes with the 429 itself)."""
        return [(b"x-ratelimit-limit-requests", str(self.limit).encode()),
                (b"x-ratelimit-remaining-requests", str(self.remaining).encode()),
                (b"x-ratelimit-reset-requests", f"{self.reset_seconds:.3f}s".encode())]

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after))


def take(tokens: float, elapsed: float, capacity: float, rate: float, cost: float = 1.0,
         force: bool = False) -> tuple[bool, float, float]:
    """The bucket after `elapsed` seconds: (allowed, tokens left, seconds until one token).

    A request needs max(cost, 1) in the bucket and takes `cost` (0 only looks); `force` charges
    what was already spent, into debt if need be."""
    tokens = min(capacity, tokens + elapsed * rate)
    if force or tokens >= max(cost, 1):
        return True, tokens - cost, 0.0
    return False, tokens, (max(cost, 1) - tokens) / rate


def decision(allowed: bool, capacity: float, tokens: float, rate: float, wait: float) -> Decision:
    return Decision(allowed, int(capacity), max(0, int(tokens)), (capacity - tokens) / rate, wait)


class Buckets(Protocol):
    async def take(self, key: str, capacity: float, per_minute: float, cost: float = 1.0,
                   force: bool = False) -> Decision: ...

    async def used(self, key: str) -> int:
        """A period counter's value (0 when it was never added to)."""

    async def add(self, key: str, amount: int, ttl_seconds: int) -> int:
        """Add to a period counter, which is forgotten `ttl_seconds` after its last change."""

    async def close(self) -> None: ...


class MemoryBuckets:
    """This process only; no call awaits anything, so the loop is never held."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    async def take(self, key: str, capacity: float, per_minute: float, cost: float = 1.0,
                   force: bool = False) -> Decision:
        return self.take_now(key, capacity, per_minute, cost, force)

    def take_now(self, key: str, capacity: float, per_minute: float, cost: float = 1.0,
                 force: bool = False) -> Decision:
        rate = per_minute / 60
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(capacity), now))
            allowed, tokens, wait = take(tokens, now - at, capacity, rate, cost, force)
            self._buckets[key] = (tokens, now)
        return decision(allowed, capacity, tokens, rate, wait)

    async def used(self, key: str) -> int:
        return self._counters.get(key, 0)

    async def add(self, key: str, amount: int, ttl_seconds: int) -> int:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + amount
            return self._counters[key]

    async def close(self) -> None:
        pass


# KEYS[1]: the bucket; ARGV: capacity, rate per second, cost, force. Redis' own clock, so
# every instance agrees. The same arithmetic as take().
TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local force = ARGV[4] == '1'
local need = math.max(cost, 1)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if force or tokens >= need then
  tokens = tokens - cost
  allowed = 1
else
  wait = (need - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((capacity - math.min(tokens, 0)) / rate) + 1)
return {allowed, tostring(tokens), tostring(wait)}
"""


class RedisBuckets:
    """Shared by every gateway on one Redis. Each call is one round trip, awaited: the loop serves
    other requests meanwhile. A Redis that is down raises (the quota layer decides what then)."""

    def __init__(self, redis_url: str, prefix: str, timeout: float = 2.0):
        try:
            import redis.asyncio as aioredis
        except ImportError:
            from aistack.registry import MissingDependency

            raise MissingDependency("shared limits need redis-py: pip install 'aistack[redis]'") from None
        self.prefix = prefix
        self.client = aioredis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.script = self.client.register_script(TOKEN_BUCKET)

    async def take(self, key: str, capacity: float, per_minute: float, cost: float = 1.0,
                   force: bool = False) -> Decision:
        rate = per_minute / 60
        allowed, tokens, wait = await self.script(keys=[self.prefix + key],
                                                  args=[capacity, rate, cost, "1" if force else "0"])
        return decision(bool(allowed), capacity, float(tokens), rate, float(wait))

    async def used(self, key: str) -> int:
        value = await self.client.get(self.prefix + key)
        return int(value or 0)

    async def add(self, key: str, amount: int, ttl_seconds: int) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incrby(self.prefix + key, amount)
            pipe.expire(self.prefix + key, ttl_seconds)
            total, _ = await pipe.execute()
        return int(total)

    async def close(self) -> None:
        await self.client.aclose()


def create_buckets(settings: RateLimitSettings) -> Buckets:
    if settings.backend == "redis":
        return RedisBuckets(settings.redis_url, settings.key_prefix)
    return MemoryBuckets()
