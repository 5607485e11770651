"""Where limits are counted: token buckets (requests or LLM tokens per minute) and period counters
(token budgets), in this process (`memory`) or in Redis (`redis`, through redis.asyncio: one Lua
script run atomically by Redis on its own clock, so every gateway sharing it enforces one limit).

A bucket's size and rate come with each call, so one store holds every key's and team's limits."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from aistack.settings.deploy import RateLimitSettings


class Decision(NamedTuple):  # a tuple: made for every bucket of every request
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


def refill(tokens: float, elapsed: float, capacity: float, rate: float, cost: float = 1.0,
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


class Take(NamedTuple):
    """One bucket's part of a request: take `cost` (0 only looks; `force` charges into debt)."""

    key: str
    capacity: float
    per_minute: float
    cost: float = 1.0
    force: bool = False


class Count(NamedTuple):
    """One period counter's part: add `amount` (0 only reads), forgotten `ttl` seconds after."""

    key: str
    amount: int = 0
    ttl: int = 0


class Buckets(Protocol):
    async def apply(self, takes: list[Take], counts: list[Count]) -> tuple[list[Decision], list[int]]:
        """In one step: the takes in order until one is refused (the decisions up to and including
        it); when none is, the counts, and the counters' values after them. A request's quotas
        are one call (one round trip to Redis), and so is the charge of its answer."""

    async def close(self) -> None: ...


async def take(buckets: Buckets, key: str, capacity: float, per_minute: float, cost: float = 1.0,
               force: bool = False) -> Decision:
    return (await buckets.apply([Take(key, capacity, per_minute, cost, force)], []))[0][0]


async def used(buckets: Buckets, key: str) -> int:
    """A period counter's value (0 when it was never added to)."""
    return (await buckets.apply([], [Count(key)]))[1][0]


async def add(buckets: Buckets, key: str, amount: int, ttl_seconds: int) -> int:
    """Add to a period counter, which is forgotten `ttl_seconds` after its last change."""
    return (await buckets.apply([], [Count(key, amount, ttl_seconds)]))[1][0]


class MemoryBuckets:
    """This process only; no call awaits anything, so the loop is never held."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    async def apply(self, takes: list[Take], counts: list[Count]) -> tuple[list[Decision], list[int]]:
        decisions = []
        with self._lock:  # one moment for the whole request, as Redis' script has
            now = self.clock()
            for t in takes:
                decisions.append(self._take(now, t.key, t.capacity, t.per_minute, t.cost, t.force))
                if not decisions[-1].allowed:
                    return decisions, []
            values = []
            for c in counts:
                self._counters[c.key] = value = self._counters.get(c.key, 0) + c.amount
                values.append(value)
        return decisions, values

    def take_now(self, key: str, capacity: float, per_minute: float, cost: float = 1.0,
                 force: bool = False) -> Decision:
        with self._lock:
            return self._take(self.clock(), key, capacity, per_minute, cost, force)

    def _take(self, now: float, key: str, capacity: float, per_minute: float, cost: float, force: bool) -> Decision:
        rate = per_minute / 60
        tokens, at = self._buckets.get(key, (float(capacity), now))
        allowed, tokens, wait = refill(tokens, now - at, capacity, rate, cost, force)
        self._buckets[key] = (tokens, now)
        return decision(allowed, capacity, tokens, rate, wait)

    async def close(self) -> None:
        pass


# KEYS: n buckets, then the counters. ARGV: n; capacity, rate per second, cost, force for each
# bucket; amount, ttl for each counter. Redis' own clock, so every instance agrees; the same
# arithmetic as refill(). Stops at the first refusal, before any counter.
APPLY = """
local n = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local out = {}
for i = 1, n do
  local a = 1 + (i - 1) * 4
  local capacity = tonumber(ARGV[a + 1])
  local rate = tonumber(ARGV[a + 2])
  local cost = tonumber(ARGV[a + 3])
  local force = ARGV[a + 4] == '1'
  local need = math.max(cost, 1)
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
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
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[i], math.ceil((capacity - math.min(tokens, 0)) / rate) + 1)
  table.insert(out, allowed)
  table.insert(out, tostring(tokens))
  table.insert(out, tostring(wait))
  if allowed == 0 then return out end
end
local b = 1 + n * 4
for j = n + 1, #KEYS do
  local amount = tonumber(ARGV[b + 1])
  local value
  if amount > 0 then
    value = redis.call('INCRBY', KEYS[j], amount)
    redis.call('EXPIRE', KEYS[j], tonumber(ARGV[b + 2]))
  else
    value = tonumber(redis.call('GET', KEYS[j]) or '0')
  end
  table.insert(out, value)
  b = b + 2
end
return out
"""


class RedisBuckets:
    """Shared by every gateway on one Redis. The calls that arrive while one round trip is out go
    together in the next (a pipeline of the same script, one reply each), so sixteen concurrent
    requests cost a few round trips, not sixteen, and no call waits longer than one round trip
    beyond its own. A Redis that is down raises (the quota layer decides what then)."""

    def __init__(self, redis_url: str, prefix: str, timeout: float = 2.0):
        try:
            import redis.asyncio as aioredis
            from redis.exceptions import NoScriptError
        except ImportError:
            from aistack.registry import MissingDependency

            raise MissingDependency("shared limits need redis-py: pip install 'aistack[redis]'") from None
        self.prefix = prefix
        self.client = aioredis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._no_script = NoScriptError
        self._sha: str | None = None
        self._waiting: list[tuple[list[Any], list[Any], asyncio.Future]] = []
        self._sending: asyncio.Task | None = None

    async def apply(self, takes: list[Take], counts: list[Count]) -> tuple[list[Decision], list[int]]:
        args: list[Any] = [len(takes)]
        for t in takes:
            args += [t.capacity, t.per_minute / 60, t.cost, "1" if t.force else "0"]
        for c in counts:
            args += [c.amount, c.ttl]
        keys = [self.prefix + k for k in [*(t.key for t in takes), *(c.key for c in counts)]]
        reply: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, reply))
        if self._sending is None:
            self._sending = asyncio.create_task(self._send())
        out = await reply
        decisions = [decision(bool(out[3 * i]), t.capacity, float(out[3 * i + 1]), t.per_minute / 60,
                              float(out[3 * i + 2])) for i, t in enumerate(takes[: len(out) // 3])]
        return decisions, [int(v) for v in out[3 * len(decisions):]]

    async def _send(self) -> None:
        """Round trips, one after the other, each with every call waiting when it leaves."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    replies = await self._run(batch)
                except BaseException as exc:  # noqa: BLE001 - every call of the batch gets the failure
                    for _, _, reply in batch:
                        if not reply.done():
                            reply.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, _, reply), result in zip(batch, replies):
                    if reply.done():
                        continue
                    if isinstance(result, Exception):
                        reply.set_exception(result)
                    else:
                        reply.set_result(result)
        finally:
            self._sending = None

    async def _run(self, batch: list[tuple[list[Any], list[Any], asyncio.Future]]) -> list[Any]:
        for attempt in range(2):
            if self._sha is None:
                self._sha = await self.client.script_load(APPLY)
            pipe = self.client.pipeline(transaction=False)
            for keys, args, _ in batch:
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, self._no_script) for r in replies):
                self._sha = None  # Redis restarted or was flushed: load the script again, resend
                continue
            return replies
        return replies

    async def close(self) -> None:
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)
        await self.client.aclose()


def create_buckets(settings: RateLimitSettings) -> Buckets:
    if settings.backend == "redis":
        return RedisBuckets(settings.redis_url, settings.key_prefix)
    return MemoryBuckets()
