"""Cost per team, from the usage ledger's tokens and the TCO model's prices: each team's share of
the self-hosted monthly TCO (by its share of the tokens), beside what the same tokens would cost
on the cloud API at its input and output prices. A window of ledger days is scaled to a month."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aistack.cost.tco import DAYS_PER_MONTH, CloudAPICost, SelfHostedCost


@dataclass(frozen=True)
class TeamCost:
    team: str
    prompt_tokens: int
    completion_tokens: int
    share: float  # of all tokens in the window
    monthly_tokens: float
    self_hosted_monthly: float  # EUR: the share of the self-hosted TCO
    cloud_monthly: float  # EUR: the same tokens at the cloud API's prices

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def by_team(rows: list[dict[str, Any]], window_days: float, self_hosted: SelfHostedCost,
            cloud: CloudAPICost) -> list[TeamCost]:
    """`rows`: the ledger summed by team (team, prompt_tokens, completion_tokens)."""
    total = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    scale = DAYS_PER_MONTH / max(window_days, 1e-9)
    found = []
    for r in rows:
        tokens = r["prompt_tokens"] + r["completion_tokens"]
        share = tokens / total if total else 0.0
        cloud_window = (r["prompt_tokens"] * cloud.input_price_per_1k + r["completion_tokens"] * cloud.output_price_per_1k) / 1000
        found.append(TeamCost(r["team"], r["prompt_tokens"], r["completion_tokens"], share, tokens * scale,
                              share * self_hosted.monthly_tco, cloud_window * scale))
    return sorted(found, key=lambda c: -c.monthly_tokens)
