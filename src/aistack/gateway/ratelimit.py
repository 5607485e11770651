"""Per-client dependencies of the /v1 API: the rate limit (its decision is left in the request
scope; the middleware turns it into x-ratelimit-* headers) and the key an A/B split sticks to."""

from __future__ import annotations

import hashlib

import anyio
from fastapi import Request

from aistack.deploy.ratelimit import MemoryLimiter, RateLimiter
from aistack.errors import RateLimited
from aistack.observability.metrics import Metrics

ALL_MODELS = "*"  # the limit applies before the body (and its model) is read


def client_key(request: Request) -> str:
    """The API key (hashed: raw keys never reach Redis), else the client's address."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "key:" + hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    return "addr:" + (request.client.host if request.client else "unknown")


class RateLimit:
    def __init__(self, limiter: RateLimiter, metrics: Metrics, per_minute: float):
        self.limiter = limiter
        self.metrics = metrics
        self.per_minute = per_minute

    async def __call__(self, request: Request) -> None:
        key = client_key(request)
        if isinstance(self.limiter, MemoryLimiter):
            decision = self.limiter.acquire(key)
        else:  # a network round trip: off the event loop
            decision = await anyio.to_thread.run_sync(self.limiter.acquire, key)
        request.scope.setdefault("state", {})["ratelimit"] = decision
        if not decision.allowed:
            self.metrics.rejected.labels(model=ALL_MODELS, reason="rate_limit").inc()
            raise RateLimited(
                f"Rate limit reached: {decision.limit} requests at once, then "
                f"{self.per_minute:g} per minute. Retry after {decision.retry_after_seconds}s.",
                retry_after=decision.retry_after_seconds)


class StickyKey:
    """The user an A/B split sticks to: the sticky header, else the API key, else the address."""

    def __init__(self, header: str):
        self.header = header.lower()

    async def __call__(self, request: Request) -> None:
        from aistack.deploy.routing import sticky_key

        user = request.headers.get(self.header)
        sticky_key.set("user:" + user if user else client_key(request))
