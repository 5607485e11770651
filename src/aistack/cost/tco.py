"""The seed's TCO model ("Cost Analysis: Self-Hosted vs Cloud APIs"), with its names and defaults,
plus what it lacked: the crossover volume solved for, savings per year, cumulative cost by month,
and the gap between a stated monthly cloud bill and the one its own token prices imply.

What the seed got wrong, made visible here: its crossover volume ("roughly 800K tokens per day")
is a guess, solved for here; and its prose's EUR 1,800 GPT-4o bill is not what its code's prices
give for 2M tokens/day (about EUR 285), so when a stated bill is given, both results are shown."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

DAYS_PER_MONTH = 30  # the seed's month


@dataclass
class SelfHostedCost:
    capex_hardware: float = 5800.0        # EUR one-time
    monthly_electricity: float = 76.0     # EUR (350 W average at EUR 0.30/kWh)
    monthly_bandwidth: float = 30.0       # EUR
    monthly_maintenance: float = 150.0    # EUR (sysadmin hours)
    hardware_lifetime_months: int = 48    # 4-year depreciation

    @property
    def monthly_opex(self) -> float:
        return self.monthly_electricity + self.monthly_bandwidth + self.monthly_maintenance

    @property
    def monthly_depreciation(self) -> float:
        return self.capex_hardware / self.hardware_lifetime_months

    @property
    def monthly_tco(self) -> float:
        return self.monthly_opex + self.monthly_depreciation


def electricity_per_month(watts: float, eur_per_kwh: float) -> float:
    """A constant average draw priced for one 30-day month."""
    return watts / 1000 * 24 * DAYS_PER_MONTH * eur_per_kwh


@dataclass
class CloudAPICost:
    daily_tokens: int = 2_000_000
    input_price_per_1k: float = 0.0025    # EUR per 1K input tokens
    output_price_per_1k: float = 0.01     # EUR per 1K output tokens
    input_ratio: float = 0.7              # 70% of tokens are input
    monthly_embedding: float = 120.0      # EUR
    monthly_vector_db: float = 230.0      # EUR
    stated_monthly_llm: float | None = None  # a bill quoted in words (the seed's prose: EUR 1,800)

    @property
    def price_per_token(self) -> float:
        """EUR per token, input and output blended by input_ratio."""
        return (self.input_ratio * self.input_price_per_1k + (1 - self.input_ratio) * self.output_price_per_1k) / 1000

    @property
    def monthly_llm_cost(self) -> float:
        """What the token prices give for daily_tokens."""
        return self.daily_tokens * DAYS_PER_MONTH * self.price_per_token

    @property
    def monthly_fixed(self) -> float:
        return self.monthly_embedding + self.monthly_vector_db

    @property
    def monthly_llm_used(self) -> float:
        """The stated bill when one is given, else the priced one."""
        return self.monthly_llm_cost if self.stated_monthly_llm is None else self.stated_monthly_llm

    @property
    def monthly_tco(self) -> float:
        return self.monthly_llm_used + self.monthly_fixed


def break_even_months(self_hosted: SelfHostedCost, cloud: CloudAPICost) -> float:
    """Months until self-hosting pays for itself (the seed's formula): CAPEX / monthly savings."""
    monthly_savings = cloud.monthly_tco - self_hosted.monthly_opex
    if monthly_savings <= 0:
        return math.inf
    return self_hosted.capex_hardware / monthly_savings


def crossover_daily_tokens(self_hosted: SelfHostedCost, cloud: CloudAPICost) -> float:
    """Tokens/day at which the cloud's monthly bill equals the self-hosted monthly TCO (OPEX plus
    depreciation): above it, self-hosting is cheaper over the hardware's life. Solved from the
    token prices (a stated bill has no volume to solve for). 0 when self-hosting always wins."""
    gap = self_hosted.monthly_tco - cloud.monthly_fixed
    if gap <= 0:
        return 0.0
    per_daily_token = DAYS_PER_MONTH * cloud.price_per_token
    return math.inf if per_daily_token <= 0 else gap / per_daily_token


def cumulative(self_hosted: SelfHostedCost, cloud: CloudAPICost, months: int) -> list[tuple[int, float, float]]:
    """(month, self-hosted total so far, cloud total so far): CAPEX at month 0, then OPEX."""
    return [(m, self_hosted.capex_hardware + m * self_hosted.monthly_opex, m * cloud.monthly_tco)
            for m in range(months + 1)]


@dataclass
class Report:
    self_hosted: SelfHostedCost
    cloud: CloudAPICost
    break_even_months: float
    monthly_savings: float
    yearly_savings: float  # after break-even, as the seed counts it: 12 x monthly savings
    lifetime_savings: float  # over the hardware's life, CAPEX paid
    crossover_daily_tokens: float
    priced_break_even_months: float | None = None  # with the priced bill, when a stated one was used
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["self_hosted"].update(monthly_opex=self.self_hosted.monthly_opex,
                                   monthly_depreciation=self.self_hosted.monthly_depreciation,
                                   monthly_tco=self.self_hosted.monthly_tco)
        data["cloud"].update(monthly_llm_cost=self.cloud.monthly_llm_cost, monthly_tco=self.cloud.monthly_tco)
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in data.items()}


def analyse(self_hosted: SelfHostedCost, cloud: CloudAPICost) -> Report:
    savings = cloud.monthly_tco - self_hosted.monthly_opex
    report = Report(self_hosted, cloud, break_even_months(self_hosted, cloud), savings, 12 * savings,
                    self_hosted.hardware_lifetime_months * savings - self_hosted.capex_hardware,
                    crossover_daily_tokens(self_hosted, cloud))
    if cloud.stated_monthly_llm is not None:
        priced = CloudAPICost(**{**asdict(cloud), "stated_monthly_llm": None})
        report.priced_break_even_months = break_even_months(self_hosted, priced)
        ratio = cloud.stated_monthly_llm / cloud.monthly_llm_cost if cloud.monthly_llm_cost else math.inf
        report.notes.append(
            f"The stated LLM bill (EUR {cloud.stated_monthly_llm:,.0f}/month) is {ratio:.1f}x what the token prices "
            f"give for {cloud.daily_tokens:,} tokens/day (EUR {cloud.monthly_llm_cost:,.0f}/month): break-even is "
            f"{_months(report.break_even_months)} with the stated bill, {_months(report.priced_break_even_months)} "
            "with the prices.")
    if savings <= 0:
        report.notes.append("The cloud costs less per month than running the hardware: self-hosting never breaks even.")
    return report


def _months(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.2f} months"
