"""The TCO model against hand-checked numbers: the seed's code defaults, its prose scenario, and
edge cases (no savings, free tokens, self-hosting that always wins)."""

from __future__ import annotations

import math

import pytest

from aistack.cost.tco import (
    CloudAPICost,
    SelfHostedCost,
    analyse,
    break_even_months,
    crossover_daily_tokens,
    cumulative,
    electricity_per_month,
)

pytestmark = pytest.mark.unit


def test_the_seeds_code_defaults() -> None:
    report = analyse(SelfHostedCost(), CloudAPICost())
    # 2M tokens/day x 30 = 60M: 42M input at 0.0025/1K = 105, 18M output at 0.01/1K = 180
    assert report.cloud.monthly_llm_cost == pytest.approx(285.0)
    assert report.cloud.monthly_tco == pytest.approx(635.0)
    assert report.self_hosted.monthly_opex == 256 and report.self_hosted.monthly_tco == pytest.approx(256 + 5800 / 48)
    assert report.monthly_savings == pytest.approx(379.0)
    assert report.break_even_months == pytest.approx(5800 / 379)
    assert report.yearly_savings == pytest.approx(12 * 379)
    assert report.lifetime_savings == pytest.approx(48 * 379 - 5800)
    # crossover: 350 + d * 30 * 4.75e-6 = 256 + 5800/48  ->  d = 26.8333 / 1.425e-4
    assert report.crossover_daily_tokens == pytest.approx((256 + 5800 / 48 - 350) / (30 * 4.75e-6))
    assert round(report.crossover_daily_tokens) == 188_304
    assert report.notes == []


def test_the_seeds_prose_scenario_and_its_gap() -> None:
    report = analyse(SelfHostedCost(), CloudAPICost(stated_monthly_llm=1800))
    assert report.cloud.monthly_tco == 2150
    assert report.monthly_savings == 1894
    assert round(report.break_even_months, 2) == 3.06       # "5,800 / 1,894 = 3.06 months"
    assert round(report.yearly_savings, -2) == 22_700       # "approximately EUR 22,700 per year"
    assert round(report.priced_break_even_months, 2) == 15.30
    assert "6.3x what the token prices give" in report.notes[0]


def test_the_prose_low_volume_claim_does_not_follow_from_the_code() -> None:
    """The prose: 500K tokens/day costs 'approximately EUR 540/month', break-even at 20 months.
    The code's prices give EUR 421 and 35 months."""
    report = analyse(SelfHostedCost(), CloudAPICost(daily_tokens=500_000))
    assert report.cloud.monthly_tco == pytest.approx(421.25)
    assert report.break_even_months == pytest.approx(5800 / 165.25)


def test_no_savings_never_breaks_even() -> None:
    cheap = CloudAPICost(daily_tokens=0, monthly_embedding=100, monthly_vector_db=100)
    report = analyse(SelfHostedCost(), cheap)
    assert math.isinf(report.break_even_months) and report.monthly_savings < 0
    assert "never breaks even" in report.notes[-1]
    assert report.as_dict()["break_even_months"] is None  # JSON has no infinity
    equal = CloudAPICost(daily_tokens=0, monthly_embedding=256, monthly_vector_db=0)
    assert math.isinf(break_even_months(SelfHostedCost(), equal))


def test_crossover_edges() -> None:
    assert crossover_daily_tokens(SelfHostedCost(), CloudAPICost(monthly_vector_db=1000)) == 0.0  # always wins
    free = CloudAPICost(input_price_per_1k=0, output_price_per_1k=0)
    assert math.isinf(crossover_daily_tokens(SelfHostedCost(), free))


def test_a_hand_checked_small_case() -> None:
    sh = SelfHostedCost(capex_hardware=1000, monthly_electricity=50, monthly_bandwidth=25, monthly_maintenance=25,
                        hardware_lifetime_months=10)
    cloud = CloudAPICost(daily_tokens=1_000_000, input_price_per_1k=0.01, output_price_per_1k=0.01, input_ratio=0.5,
                         monthly_embedding=0, monthly_vector_db=0)
    assert cloud.monthly_tco == pytest.approx(300.0)  # 30M tokens at 0.01/1K
    assert break_even_months(sh, cloud) == pytest.approx(5.0)  # 1000 / (300 - 100)
    assert crossover_daily_tokens(sh, cloud) == pytest.approx(200 / (30 * 1e-5))  # TCO 200 = d * 30 * 1e-5
    points = cumulative(sh, cloud, 6)
    assert points[0] == (0, 1000, 0) and points[5] == (5, 1500, 1500) and points[6][1] < points[6][2]


def test_electricity_from_watts() -> None:
    assert electricity_per_month(350, 0.30) == pytest.approx(75.6)  # the seed's EUR 76


def test_cost_by_team_shares_the_self_hosted_tco_and_prices_the_cloud_per_team() -> None:
    from aistack.cost.tco import CloudAPICost, SelfHostedCost
    from aistack.cost.teams import by_team

    rows = [{"team": "red", "prompt_tokens": 70_000, "completion_tokens": 30_000},
            {"team": "blue", "prompt_tokens": 300_000, "completion_tokens": 0}]
    red, blue = sorted(by_team(rows, 10, SelfHostedCost(), CloudAPICost()), key=lambda c: c.team, reverse=True)
    assert red.share == 0.25 and blue.share == 0.75
    assert red.monthly_tokens == 300_000  # 100,000 in 10 days, scaled to the seed's 30-day month
    assert round(red.self_hosted_monthly + blue.self_hosted_monthly, 6) == round(SelfHostedCost().monthly_tco, 6)
    assert round(red.cloud_monthly, 6) == round((70_000 * 0.0025 + 30_000 * 0.01) / 1000 * 3, 6)
    assert by_team([], 30, SelfHostedCost(), CloudAPICost()) == []


def test_the_two_prometheus_rates_are_taken_at_one_instant() -> None:
    """Two "now" queries with a scrape between them moved one rate's extrapolation and not the
    other's: an input ratio of 0.78 for a true 0.71."""
    from urllib.parse import parse_qs, urlparse

    from support.http_stub import JsonHandler, serve

    from aistack.cost.measured import from_prometheus

    asked: list[dict[str, list[str]]] = []

    class Prometheus(JsonHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            asked.append(query)
            value = "7" if "input" in query["query"][0] else "3"
            self.send_json({"status": "success", "data": {"result": [{"value": [0, value]}]}})

    server, url = serve(Prometheus)
    try:
        workload = from_prometheus(url, window="15m")
    finally:
        server.shutdown()
        server.server_close()
    assert workload.input_ratio == 0.7
    assert len(asked) == 2 and asked[0]["time"] == asked[1]["time"]
