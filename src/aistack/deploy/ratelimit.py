"""Per-key token buckets: `burst` requests at once, refilled at `requests_per_minute`.

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


def take(tokens: float, elapsed: float, capacity: int, rate: float) -> tuple[bool, float, float]:
    """The bucket after `elapsed` seconds: (allowed, tokens left, seconds until one token)."""
    tokens = min(capacity, tokens + elapsed * rate)
    if tokens >= 1:
        return True, tokens - 1, 0.0
    return False, tokens, (1 - tokens) / rate


class RateLimiter(Protocol):
    def acquire(self, key: str) -> Decision: ...

    def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, settings: RateLimitSettings, clock: Callable[[], float] = time.monotonic):
        self.capacity = settings.burst
        self.rate = settings.requests_per_minute / 60
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> Decision:
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.capacity), now))
            allowed, tokens, wait = take(tokens, now - at, self.capacity, self.rate)
            self._buckets[key] = (tokens, now)
        return Decision(allowed, self.capacity, int(tokens), (self.capacity - tokens) / self.rate, wait)

    def close(self) -> None:
        pass


# KEYS[1]: the bucket; ARGV: capacity, rate per second. Redis' own clock, so instances agree.
TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {allowed, tostring(tokens), tostring(wait)}
"""


class RedisLimiter:
    def __init__(self, settings: RateLimitSettings):
        try:
            import redis
        except ImportError:
            from aistack.registry import MissingDependency

            raise MissingDependency("the redis rate limiter needs redis-py: pip install 'aistack[redis]'") from None
        self.capacity = settings.burst
        self.rate = settings.requests_per_minute / 60
        self.prefix = settings.key_prefix
        self.client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        self.script = self.client.register_script(TOKEN_BUCKET)

    def acquire(self, key: str) -> Decision:
        allowed, tokens, wait = self.script(keys=[self.prefix + key], args=[self.capacity, self.rate])
        tokens = float(tokens)
        return Decision(bool(allowed), self.capacity, int(tokens), (self.capacity - tokens) / self.rate, float(wait))

    def close(self) -> None:
        self.client.close()


def create_limiter(settings: RateLimitSettings) -> RateLimiter:
    return RedisLimiter(settings) if settings.backend == "redis" else MemoryLimiter(settings)
