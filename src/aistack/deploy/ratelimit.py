"""Per-key token buckets: `burst` requests at once, refilled at `requests_per_minute`; and, when
`tokens_per_minute` is set, a second bucket of LLM tokens, charged with each answer's usage after
it (a request is admitted while the key's token bucket is not empty).

Two backends give the same answers: `memory` (this process) and `redis` (one Lua script, run
atomically by Redis on its own clock, so every gateway instance sharing it enforces one limit)."""

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


class RateLimiter(Protocol):
    def acquire(self, key: str, cost: float = 1.0, force: bool = False) -> Decision: ...

    def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, capacity: float, per_minute: float, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.rate = per_minute / 60
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0, force: bool = False) -> Decision:
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.capacity), now))
            allowed, tokens, wait = take(tokens, now - at, self.capacity, self.rate, cost, force)
            self._buckets[key] = (tokens, now)
        return decision(allowed, self.capacity, tokens, self.rate, wait)

    def close(self) -> None:
        pass


def decision(allowed: bool, capacity: float, tokens: float, rate: float, wait: float) -> Decision:
    return Decision(allowed, int(capacity), max(0, int(tokens)), (capacity - tokens) / rate, wait)


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


class RedisLimiter:
    def __init__(self, settings: RateLimitSettings, capacity: float, per_minute: float, prefix: str = ""):
        try:
            import redis
        except ImportError:
            from aistack.registry import MissingDependency

            raise MissingDependency("the redis rate limiter needs redis-py: pip install 'aistack[redis]'") from None
        self.capacity = capacity
        self.rate = per_minute / 60
        self.prefix = settings.key_prefix + prefix
        self.client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        self.script = self.client.register_script(TOKEN_BUCKET)

    def acquire(self, key: str, cost: float = 1.0, force: bool = False) -> Decision:
        allowed, tokens, wait = self.script(keys=[self.prefix + key],
                                            args=[self.capacity, self.rate, cost, "1" if force else "0"])
        return decision(bool(allowed), self.capacity, float(tokens), self.rate, float(wait))

    def close(self) -> None:
        self.client.close()


def create_limiter(settings: RateLimitSettings) -> RateLimiter:
    """Requests per key: `burst` at once, `requests_per_minute` sustained."""
    if settings.backend == "redis":
        return RedisLimiter(settings, settings.burst, settings.requests_per_minute)
    return MemoryLimiter(settings.burst, settings.requests_per_minute)


def create_token_limiter(settings: RateLimitSettings) -> RateLimiter | None:
    """LLM tokens per key: a minute's worth at once, `tokens_per_minute` sustained."""
    per_minute = settings.tokens_per_minute
    if not per_minute:
        return None
    if settings.backend == "redis":
        return RedisLimiter(settings, per_minute, per_minute, prefix="tokens:")
    return MemoryLimiter(per_minute, per_minute)
