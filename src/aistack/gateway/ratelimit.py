"""Per-client dependencies of the /v1 API: the rate limit (its decision is left in the request
scope; the middleware turns it into x-ratelimit-* headers) and the key an A/B split sticks to."""

from __future__ import annotations

import anyio
from fastapi import Request

from aistack.deploy.ratelimit import Decision, MemoryLimiter, RateLimiter
from aistack.errors import RateLimited
from aistack.gateway.auth import Caller
from aistack.metrics import Metrics
from aistack.principals import Principal

ALL_MODELS = "*"  # the limit applies before the body (and its model) is read


def client_key(principal: Principal) -> str:
    """Who a limit counts: the key (its id or fingerprint, never the key), else, for anonymous
    use, the client's address: a presented token never makes a bucket of its own."""
    if principal.anonymous:
        return "addr:" + (principal.client or "unknown")
    return "key:" + (principal.key_id or principal.name)


class RateLimit:
    def __init__(self, limiter: RateLimiter, metrics: Metrics, per_minute: float,
                 tokens: RateLimiter | None = None):
        self.limiter = limiter
        self.metrics = metrics
        self.per_minute = per_minute
        self.tokens = tokens

    async def _acquire(self, limiter: RateLimiter, key: str, cost: float = 1.0, force: bool = False) -> Decision:
        if isinstance(limiter, MemoryLimiter):
            return limiter.acquire(key, cost, force)
        return await anyio.to_thread.run_sync(limiter.acquire, key, cost, force)  # a network round trip

    async def __call__(self, request: Request, principal: Caller) -> None:
        key = client_key(principal)
        state = request.scope.setdefault("state", {})
        decision = state["ratelimit"] = await self._acquire(self.limiter, key)
        if not decision.allowed:
            self.metrics.rejected.labels(model=ALL_MODELS, reason="rate_limit").inc()
            raise RateLimited(
                f"Rate limit reached: {decision.limit} requests at once, then "
                f"{self.per_minute:g} per minute. Retry after {decision.retry_after_seconds}s.",
                retry_after=decision.retry_after_seconds)
        if self.tokens is not None:
            budget = await self._acquire(self.tokens, key, cost=0)  # looks, takes nothing
            if not budget.allowed:
                self.metrics.rejected.labels(model=ALL_MODELS, reason="rate_limit").inc()
                raise RateLimited(
                    f"Token rate limit reached: {budget.limit} tokens per minute. "
                    f"Retry after {budget.retry_after_seconds}s.", retry_after=budget.retry_after_seconds)
            tokens = self.tokens
            # the middleware charges the answer's usage when the response is done, streams included
            state["charge_tokens"] = lambda used: tokens.acquire(key, used, force=True)


class StickyKey:
    """The user an A/B split sticks to: the sticky header, else the API key, else the address."""

    def __init__(self, header: str):
        self.header = header.lower()

    async def __call__(self, request: Request, principal: Caller) -> None:
        from aistack.llm.routing import sticky_key

        user = request.headers.get(self.header)
        sticky_key.set("user:" + user if user else client_key(principal))
