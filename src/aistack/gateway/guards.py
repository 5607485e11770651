"""The API's per-request guards after authentication: the caller's quotas (their decision is
left in the request scope; the middleware turns it into x-ratelimit-* headers and charges the
answer's usage) and the key an A/B split sticks to."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from aistack.access.quotas import Quotas, who
from aistack.errors import QuotaExceeded, RateLimited
from aistack.gateway.auth import Caller
from aistack.metrics import Metrics
from aistack.principals import Principal

ALL_MODELS = "*"  # the limit applies before the body (and its model) is read


class Quota:
    def __init__(self, quotas: Quotas, metrics: Metrics):
        self.quotas, self.metrics = quotas, metrics

    async def __call__(self, request: Request, caller: Caller) -> None:
        await self.admit(caller, request.scope)

    async def admit(self, caller: Principal, scope: dict[str, Any]) -> None:
        """Raises when a limit refuses; else leaves the decision, and what charges the answer, in
        the request's scope (/v1 routes and /mcp alike)."""
        state = scope.setdefault("state", {})
        try:
            state["ratelimit"] = await self.quotas.admit(caller)
        except (RateLimited, QuotaExceeded) as exc:
            reason = "budget" if isinstance(exc, QuotaExceeded) else "rate_limit"
            self.metrics.rejected.labels(model=ALL_MODELS, reason=reason).inc()
            raise
        if self.quotas.charges(caller):
            quotas = self.quotas
            state["charge_tokens"] = lambda used: quotas.charge(caller, used)  # awaited when the answer ends


class StickyKey:
    """The user an A/B split sticks to: the sticky header, else the key, else the address."""

    def __init__(self, header: str):
        self.header = header.lower()

    async def __call__(self, request: Request, caller: Caller) -> None:
        from aistack.llm.routing import sticky_key

        user = request.headers.get(self.header)
        sticky_key.set("user:" + user if user else who(caller))
