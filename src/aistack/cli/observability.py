"""`aistack observability render | status`: monitoring configuration, and a gateway's figures."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Column, Table

from aistack.cli.common import console, fail, print_json, settings
from aistack.client.http import ClientError

app = typer.Typer(help="Prometheus, Alertmanager and Grafana for aistack.", no_args_is_help=True)


@app.command()
def render(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write into (created)."),
    prometheus_url: str = typer.Option("http://prometheus:9090", help="Prometheus as Grafana reaches it."),
) -> None:
    """Write prometheus.yml, alert rules, alertmanager.yml and Grafana dashboards from settings."""
    from aistack.observability.render import render as write

    for path in write(settings(), out, prometheus_url):
        console.print(str(path), highlight=False, soft_wrap=True)  # one path a line, never cut


def _cell(value: object, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if unit == "ms" else str(value)


@app.command()
def status(
    url: str = typer.Option(None, help="Gateway URL. Default: client.url, else this host's server.host:port."),
    json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Per model: requests, tokens/s, p50/p95 latency, TTFT, errors and queue, from /metrics."""
    from aistack.client.status import parse, scrape

    config = settings()
    url = url or config.client.url or f"http://{config.server.host}:{config.server.port}"
    try:
        models = parse(scrape(url))
    except ClientError as exc:
        fail(str(exc))
    if json:
        print_json([m.summary() for m in models])
        return
    if not models:
        console.print(f"{url} has served no inference requests yet.")
        return
    table = Table(Column("model", no_wrap=True, min_width=max(len(m.model) for m in models)), "requests",
                  "tokens/s", "p50", "p95", "TTFT p50", "TTFT p95", "errors", "429s", "active", "queue",
                  title=f"{url} (totals since start)")
    for m in models:
        s = m.summary()
        tps = s["tokens_per_second"]
        table.add_row(m.model, str(m.requests), f"{tps:.1f}" if tps is not None else "-",
                      _cell(s["latency_p50_s"], "ms"), _cell(s["latency_p95_s"], "ms"),
                      _cell(s["ttft_p50_s"], "ms"), _cell(s["ttft_p95_s"], "ms"),
                      str(m.errors), str(m.rejected), str(m.active), _cell(m.queue))
    console.print(table)
