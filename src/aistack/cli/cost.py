"""`aistack cost`: self-hosted against cloud API cost, from flags, a YAML file or the measured workload."""

from __future__ import annotations

import math
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from aistack.cli.common import console, fail, print_json

SELF = "self-hosted"
CLOUD = "cloud"


def scenario(file: str | None) -> dict[str, dict[str, Any]]:
    """A YAML scenario: a path, or the name of a bundled one (seed-prose)."""
    if file is None:
        return {}
    bundled = resources.files("aistack.cost") / "scenarios" / f"{file}.yaml"
    path = Path(file)
    try:
        text = path.read_text() if path.exists() else bundled.read_text()
    except (FileNotFoundError, OSError):
        fail(f"no scenario file {file} (bundled: seed-prose)")
    data = yaml.safe_load(text) or {}
    unknown = set(data) - {"self_hosted", "cloud", "months"}
    if not isinstance(data, dict) or unknown:
        fail(f"{file}: a scenario has self_hosted, cloud and months; not {sorted(unknown)}")
    return data


def build(kind: type, given: dict[str, Any], flags: dict[str, Any], where: str) -> Any:
    names = {f.name for f in fields(kind)}
    unknown = set(given) - names
    if unknown:
        fail(f"{where}: unknown fields {sorted(unknown)}; known: {', '.join(sorted(names))}")
    values = {**given, **{k: v for k, v in flags.items() if v is not None}}
    negative = [k for k, v in values.items() if isinstance(v, int | float) and v < 0]
    if negative:
        fail(f"{where}: {', '.join(negative)} cannot be negative")
    if not 0 <= values.get("input_ratio", 0.7) <= 1:
        fail("input_ratio is a share between 0 and 1")
    if values.get("hardware_lifetime_months", 48) < 1:
        fail("hardware_lifetime_months must be at least 1")
    return kind(**values)


def money(value: float) -> str:
    return "never" if math.isinf(value) else f"EUR {value:,.0f}"


def show(report: Any, measured: Any) -> None:
    sh, cl = report.self_hosted, report.cloud
    table = Table("", "self-hosted", "cloud API", title="Monthly cost")
    table.add_row("one-time CAPEX", money(sh.capex_hardware), "-")
    table.add_row("electricity / LLM tokens", money(sh.monthly_electricity), money(cl.monthly_llm_used))
    table.add_row("bandwidth / embeddings", money(sh.monthly_bandwidth), money(cl.monthly_embedding))
    table.add_row("maintenance / vector DB", money(sh.monthly_maintenance), money(cl.monthly_vector_db))
    table.add_row("OPEX", money(sh.monthly_opex), money(cl.monthly_tco))
    table.add_row(f"depreciation ({sh.hardware_lifetime_months} months)", money(sh.monthly_depreciation), "-")
    table.add_row("[bold]TCO[/]", money(sh.monthly_tco), money(cl.monthly_tco))
    console.print(table)
    results = Table("", "value", title=f"{cl.daily_tokens:,.0f} tokens/day, {cl.input_ratio:.0%} input")
    be = report.break_even_months
    results.add_row("monthly savings (cloud TCO - self-hosted OPEX)", money(report.monthly_savings))
    results.add_row("break-even", "never" if math.isinf(be) else f"{be:.2f} months")
    results.add_row("savings per year after break-even", money(report.yearly_savings))
    results.add_row(f"savings over {sh.hardware_lifetime_months} months", money(report.lifetime_savings))
    crossover = report.crossover_daily_tokens
    results.add_row("crossover volume (cloud bill = self-hosted TCO)",
                    "never" if math.isinf(crossover) else f"{crossover:,.0f} tokens/day")
    console.print(results)
    if measured is not None:
        console.print(f"measured: {measured.daily_tokens:,.0f} tokens/day, {measured.input_ratio:.0%} input, "
                      f"{measured.output_tokens_per_second:.2f} generated tokens/s ({measured.source})",
                      highlight=False)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def cost(
    file: str = typer.Option(None, "--file", "-f", help="Scenario YAML (self_hosted, cloud, months), or 'seed-prose'."),
    capex_hardware: float = typer.Option(None, help="EUR, one-time (seed: 5800)."),
    monthly_electricity: float = typer.Option(None, help="EUR/month (seed: 76)."),
    power_watts: float = typer.Option(None, help="Average draw in W; with --kwh-price sets the electricity."),
    kwh_price: float = typer.Option(None, help="EUR per kWh (seed: 0.30)."),
    monthly_bandwidth: float = typer.Option(None, help="EUR/month (seed: 30)."),
    monthly_maintenance: float = typer.Option(None, help="EUR/month of sysadmin time (seed: 150)."),
    hardware_lifetime_months: int = typer.Option(None, help="Depreciation period (seed: 48)."),
    daily_tokens: int = typer.Option(None, help="Tokens per day, input and output (seed: 2,000,000)."),
    input_price_per_1k: float = typer.Option(None, help="EUR per 1K input tokens (seed: 0.0025)."),
    output_price_per_1k: float = typer.Option(None, help="EUR per 1K output tokens (seed: 0.01)."),
    input_ratio: float = typer.Option(None, help="Share of tokens that are input (seed: 0.7)."),
    monthly_embedding: float = typer.Option(None, help="EUR/month for an embedding API (seed: 120)."),
    monthly_vector_db: float = typer.Option(None, help="EUR/month for a managed vector DB (seed: 230)."),
    stated_monthly_llm: float = typer.Option(None, help="A quoted monthly LLM bill, shown beside the priced one."),
    months: int = typer.Option(None, help="Months on the chart (default: the hardware lifetime)."),
    plot: Path = typer.Option(None, help="Write a PNG of cumulative cost by month."),
    measured: bool = typer.Option(False, "--measured", help="Use the real workload: tokens/day and input share."),
    prometheus: str = typer.Option(None, help="--measured from this Prometheus (rates of the gateway's counters)."),
    gateway: str = typer.Option(None, help="--measured from this gateway's /metrics (counters since it started)."),
    window: str = typer.Option("1d", help="--measured with Prometheus: the rate window."),
    by: str = typer.Option(None, "--by", help="team: each team's share of the cost, from the usage ledger."),
    since: str = typer.Option("30d", "--since", help="--by team: the ledger window (7d, 24h or a date)."),
    url: str = typer.Option(None, "--url", help="--by team: read the ledger through this gateway (admin)."),
    json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """When does self-hosting pay for itself? The seed's TCO model, with your numbers."""
    from aistack.cost.measured import MeasureError, from_gateway, from_prometheus
    from aistack.cost.tco import (
        CloudAPICost,
        SelfHostedCost,
        analyse,
        electricity_per_month,
    )

    data = scenario(file)
    if (power_watts is None) != (kwh_price is None):
        fail("--power-watts and --kwh-price go together")
    if power_watts is not None:
        monthly_electricity = electricity_per_month(power_watts, kwh_price)
    workload = None
    if measured:
        try:
            workload = from_prometheus(prometheus, window) if prometheus else from_gateway(gateway or _gateway_url())
        except MeasureError as exc:
            fail(str(exc))
        daily_tokens, input_ratio = round(workload.daily_tokens), workload.input_ratio
    self_hosted = build(SelfHostedCost, data.get("self_hosted") or {}, {
        "capex_hardware": capex_hardware, "monthly_electricity": monthly_electricity,
        "monthly_bandwidth": monthly_bandwidth, "monthly_maintenance": monthly_maintenance,
        "hardware_lifetime_months": hardware_lifetime_months}, "self_hosted")
    cloud = build(CloudAPICost, data.get("cloud") or {}, {
        "daily_tokens": daily_tokens, "input_price_per_1k": input_price_per_1k,
        "output_price_per_1k": output_price_per_1k, "input_ratio": input_ratio,
        "monthly_embedding": monthly_embedding, "monthly_vector_db": monthly_vector_db,
        "stated_monthly_llm": stated_monthly_llm}, "cloud")
    report = analyse(self_hosted, cloud)
    if by is not None:
        return _by_team(by, since, url, self_hosted, cloud, json)
    chart = None
    if plot is not None:
        from aistack.cost.plot import plot as draw

        chart = draw(report, months or data.get("months") or self_hosted.hardware_lifetime_months, plot)
    if json:
        return print_json({**report.as_dict(), "measured": workload.as_dict() if workload else None,
                           "plot": str(chart) if chart else None})
    show(report, workload)
    if chart:
        console.print(f"chart: {chart}", highlight=False)


def _by_team(by: str, since: str, url: str | None, self_hosted: Any, cloud: Any, json: bool) -> None:
    from datetime import datetime, timezone

    from aistack.access.service import since_of
    from aistack.cli.access import with_access
    from aistack.cost.teams import by_team

    if by != "team":
        fail("--by takes team")
    try:
        start = since_of(since)
    except Exception as exc:  # noqa: BLE001 - an AistackError with the words to show
        fail(getattr(exc, "message", str(exc)))
    rows = with_access(url, lambda c: c.usage(since=start, by="team"))
    days = (datetime.now(timezone.utc) - datetime.fromisoformat(start)).total_seconds() / 86400
    costs = by_team(rows, days, self_hosted, cloud)
    if json:
        return print_json({"since": start, "window_days": round(days, 3), "teams": [c.as_dict() for c in costs]})
    table = Table("team", "prompt tokens", "completion tokens", "share", "tokens/month", "self-hosted EUR/month",
                  "cloud API EUR/month", title=f"Cost by team (ledger since {start[:16]}, scaled to a month)")
    for c in costs:
        table.add_row(c.team, f"{c.prompt_tokens:,}", f"{c.completion_tokens:,}", f"{c.share:.0%}",
                      f"{c.monthly_tokens:,.0f}", f"{c.self_hosted_monthly:,.2f}", f"{c.cloud_monthly:,.2f}")
    console.print(table)


def _gateway_url() -> str:
    from aistack.cli.common import settings

    config = settings()
    return config.client.url or f"http://{config.server.host}:{config.server.port}"
