"""Quotas: which limits a caller's request meets, and the charge of what its answer used.

Every limit is a bucket or a counter in one store (access/buckets.py), named by who it counts:
- the gateway-wide default (`deploy.rate_limit`, when enabled): requests and tokens per minute
  per key, or per client address for anonymous use (a presented token never makes a bucket);
- a key's own `requests_per_minute` / `tokens_per_minute`, and its team's, shared by the team's
  keys (a minute's worth at once, then the sustained rate);
- token budgets per day or month (UTC), of a key and of its team: once the period's tokens reach
  the budget, requests answer 429 `insufficient_quota` until the period ends.

Token limits and budgets are charged after the answer (streams included) with its usage, so a
request admitted just before a budget is spent may take it past (by at most what the requests in
flight at that moment use); once it is spent, none passes. When the store (Redis) cannot be
reached, `deploy.rate_limit.on_store_down` decides: `closed` (503, the default) or `open`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from aistack.access.buckets import Buckets, Count, Decision, Take
from aistack.errors import BackendUnavailable, QuotaExceeded, RateLimited
from aistack.principals import Principal
from aistack.settings.deploy import RateLimitSettings

log = logging.getLogger("aistack.access")
DAY, MONTH = 86_400, 31 * 86_400


@dataclass(frozen=True)
class Rule:
    key: str
    capacity: float
    per_minute: float
    what: str  # for the message: "this key", "team red", "this gateway"


def who(principal: Principal) -> str:
    """What the gateway-wide default counts: the key (its id or fingerprint, never the key), or
    for anonymous use the client's address."""
    if principal.anonymous:
        return "addr:" + (principal.client or "unknown")
    return "key:" + (principal.key_id or principal.name)


_today: tuple[int, dict[str, str]] = (-1, {})


def periods(clock: Callable[[], float] = time.time) -> dict[str, str]:
    """This UTC day's and month's names ({"day": "2026-12-01", "month": "2026-12"}), worked out
    once a day rather than on every request."""
    global _today
    day = int(clock() // DAY)
    if day != _today[0]:
        now = datetime.fromtimestamp(day * DAY, timezone.utc)
        _today = (day, {"day": now.strftime("%Y-%m-%d"), "month": now.strftime("%Y-%m")})
    return _today[1]


@dataclass(frozen=True)
class Budget:
    scope: str  # key:<id> | team:<name>
    tokens: int
    period: str  # day | month
    whose: str

    def counter(self, names: dict[str, str]) -> str:
        """The counter of the period now (`names`: periods())."""
        return f"budget:{self.scope}:{names[self.period]}"

    @property
    def ttl(self) -> int:
        return (DAY if self.period == "day" else MONTH) + DAY


@dataclass(frozen=True)
class Plan:
    """A principal's limits, worked out once (cached): the request path only fills in the period."""

    requests: tuple[Rule, ...]
    tokens: tuple[Rule, ...]
    budgets: tuple[Budget, ...]
    takes: tuple[Take, ...]  # the requests' takes, then the token buckets' looks

    @property
    def empty(self) -> bool:
        return not (self.requests or self.tokens or self.budgets)


class Quotas:
    def __init__(self, buckets: Buckets, defaults: RateLimitSettings):
        self.buckets = buckets
        self.defaults = defaults
        self.fail_open = defaults.on_store_down == "open"
        self.plan = lru_cache(maxsize=4096)(self._plan)

    # which limits apply

    def _plan(self, principal: Principal) -> Plan:
        requests, tokens = self.request_rules(principal), self.token_rules(principal)
        takes = [Take(r.key, r.capacity, r.per_minute) for r in requests]
        takes += [Take(r.key, r.capacity, r.per_minute, cost=0) for r in tokens]
        return Plan(tuple(requests), tuple(tokens), tuple(self.budgets(principal)), tuple(takes))

    def request_rules(self, principal: Principal) -> list[Rule]:
        rules = []
        if self.defaults.enabled:
            rules.append(Rule("req:" + who(principal), self.defaults.burst, self.defaults.requests_per_minute,
                              f"{self.defaults.burst} requests at once, then "
                              f"{self.defaults.requests_per_minute:g} per minute"))
        rules += self._own(principal, "requests_per_minute", "req", "requests per minute")
        return rules

    def token_rules(self, principal: Principal) -> list[Rule]:
        rules = []
        if self.defaults.enabled and self.defaults.tokens_per_minute:
            per_minute = self.defaults.tokens_per_minute
            rules.append(Rule("tok:" + who(principal), per_minute, per_minute, f"{per_minute} tokens per minute"))
        return rules + self._own(principal, "tokens_per_minute", "tok", "tokens per minute")

    @staticmethod
    def _own(principal: Principal, field: str, kind: str, unit: str) -> list[Rule]:
        rules = []
        for limits, scope, name in ((principal.limits, f"key:{principal.key_id}", "this key"),
                                    (principal.team_limits, f"team:{principal.team}", f"team {principal.team}")):
            value = getattr(limits, field)
            if value and (scope.startswith("team:") or principal.key_id):
                rules.append(Rule(f"{kind}:{scope}", value, value, f"{value:g} {unit} for {name}"))
        return rules

    @staticmethod
    def budgets(principal: Principal) -> list[Budget]:
        """The caller's key and team token budgets."""
        found = []
        for limits, scope, name in ((principal.limits, f"key:{principal.key_id}", "this key"),
                                    (principal.team_limits, f"team:{principal.team}", f"team {principal.team}")):
            if limits.token_budget and (scope.startswith("team:") or principal.key_id):
                period = limits.budget_period or "month"
                found.append(Budget(scope, limits.token_budget, period,
                                    f"{name}'s {'daily' if period == 'day' else 'monthly'} token budget"))
        return found

    # the calls

    async def admit(self, principal: Principal) -> Decision | None:
        """The tightest request decision (for the x-ratelimit headers); raises when a limit refuses."""
        try:
            return await self._admit(principal)
        except (RateLimited, QuotaExceeded):
            raise
        except Exception as exc:  # noqa: BLE001 - the store is down or failing
            if self.fail_open:
                log.warning("quota store unavailable, admitting (on_store_down: open): %s", type(exc).__name__)
                return None
            raise BackendUnavailable("the quota store is unavailable; try again shortly",
                                     detail=f"{type(exc).__name__}: {exc}") from None

    async def _admit(self, principal: Principal) -> Decision | None:
        plan = self.plan(principal)
        if plan.empty:
            return None
        names = periods()
        decisions, values = await self.buckets.apply(list(plan.takes), [Count(b.counter(names)) for b in plan.budgets])
        if decisions and not decisions[-1].allowed:  # the takes stop at the first refusal
            refused, at = decisions[-1], len(decisions) - 1
            rules = plan.requests + plan.tokens
            kind = "Rate limit" if at < len(plan.requests) else "Token rate limit"
            raise RateLimited(f"{kind} reached: {rules[at].what}. Retry after {refused.retry_after_seconds}s.",
                              retry_after=refused.retry_after_seconds)
        for budget, spent in zip(plan.budgets, values):
            if spent >= budget.tokens:
                raise QuotaExceeded(f"You exceeded {budget.whose} ({spent} of {budget.tokens} tokens used). It renews "
                                    "at the start of the next period; ask an admin to raise it.")
        return min(decisions[: len(plan.requests)], key=lambda d: d.remaining, default=None)

    def charges(self, principal: Principal) -> bool:
        """Whether an answer's usage must be charged (some token limit or budget applies)."""
        plan = self.plan(principal)
        return bool(plan.tokens or plan.budgets)

    async def charge(self, principal: Principal, tokens: int) -> None:
        """What an answer used, after it: into every token bucket (into debt if need be) and budget."""
        if tokens <= 0:
            return
        plan, names = self.plan(principal), periods()
        try:
            await self.buckets.apply([Take(r.key, r.capacity, r.per_minute, tokens, force=True) for r in plan.tokens],
                                     [Count(b.counter(names), tokens, b.ttl) for b in plan.budgets])
        except Exception as exc:  # noqa: BLE001 - a finished answer is not failed afterwards
            log.warning("quota not charged (%d tokens for %s): %s", tokens, principal.name, type(exc).__name__)

    async def close(self) -> None:
        await self.buckets.close()
