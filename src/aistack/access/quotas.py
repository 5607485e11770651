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
from dataclasses import dataclass
from datetime import datetime, timezone

from aistack.access.buckets import Buckets, Decision
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


def period_of(period: str, now: datetime) -> str:
    return now.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


class Quotas:
    def __init__(self, buckets: Buckets, defaults: RateLimitSettings):
        self.buckets = buckets
        self.defaults = defaults
        self.fail_open = defaults.on_store_down == "open"

    # which limits apply

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
    def budgets(principal: Principal, now: datetime | None = None) -> list[tuple[str, int, int, str]]:
        """(counter, budget, ttl, whose) for the caller's key and team budgets this period."""
        now = now or datetime.now(timezone.utc)
        found = []
        for limits, scope, name in ((principal.limits, f"key:{principal.key_id}", "this key"),
                                    (principal.team_limits, f"team:{principal.team}", f"team {principal.team}")):
            if limits.token_budget and (scope.startswith("team:") or principal.key_id):
                period = limits.budget_period or "month"
                found.append((f"budget:{scope}:{period_of(period, now)}", limits.token_budget,
                              (DAY if period == "day" else MONTH) + DAY,
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
        tightest: Decision | None = None
        for rule in self.request_rules(principal):
            found = await self.buckets.take(rule.key, rule.capacity, rule.per_minute)
            if not found.allowed:
                raise RateLimited(f"Rate limit reached: {rule.what}. Retry after {found.retry_after_seconds}s.",
                                  retry_after=found.retry_after_seconds)
            if tightest is None or found.remaining < tightest.remaining:
                tightest = found
        for rule in self.token_rules(principal):
            budget = await self.buckets.take(rule.key, rule.capacity, rule.per_minute, cost=0)  # looks, takes nothing
            if not budget.allowed:
                raise RateLimited(f"Token rate limit reached: {rule.what}. Retry after {budget.retry_after_seconds}s.",
                                  retry_after=budget.retry_after_seconds)
        for counter, budget, _, whose in self.budgets(principal):
            used = await self.buckets.used(counter)
            if used >= budget:
                raise QuotaExceeded(f"You exceeded {whose} ({used} of {budget} tokens used). It renews at the start "
                                    "of the next period; ask an admin to raise it.")
        return tightest

    def charges(self, principal: Principal) -> bool:
        """Whether an answer's usage must be charged (some token limit or budget applies)."""
        return bool(self.token_rules(principal) or self.budgets(principal))

    async def charge(self, principal: Principal, tokens: int) -> None:
        """What an answer used, after it: into every token bucket (into debt if need be) and budget."""
        if tokens <= 0:
            return
        try:
            for rule in self.token_rules(principal):
                await self.buckets.take(rule.key, rule.capacity, rule.per_minute, tokens, force=True)
            for counter, _, ttl, _ in self.budgets(principal):
                await self.buckets.add(counter, tokens, ttl)
        except Exception as exc:  # noqa: BLE001 - a finished answer is not failed afterwards
            log.warning("quota not charged (%d tokens for %s): %s", tokens, principal.name, type(exc).__name__)

    async def close(self) -> None:
        await self.buckets.close()
