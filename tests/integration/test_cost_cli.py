"""`aistack cost` from the command line: the seed's scenarios, the chart, bad input, and
`--measured` from a real Prometheus scraping a real gateway's token counters, and from the
gateway's /metrics itself."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.cli import invoke
from support.servers import start_gateway, start_prometheus

pytestmark = pytest.mark.integration


def cost(*args: str) -> subprocess.CompletedProcess:
    return invoke("cost", *args, env={"COLUMNS": "200"})


def test_the_seeds_prose_scenario_with_its_chart(tmp_path: Path) -> None:
    done = cost("--file", "seed-prose", "--plot", str(tmp_path / "cost.png"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["cloud"]["monthly_tco"] == 2150 and round(report["break_even_months"], 2) == 3.06
    assert round(report["priced_break_even_months"], 2) == 15.30 and "6.3x" in report["notes"][0]
    assert (tmp_path / "cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = cost("--file", "seed-prose")
    assert "3.06 months" in table.stdout and "EUR 2,150" in table.stdout and "note:" in table.stdout


def test_flags_override_the_file(tmp_path: Path) -> None:
    scenario = tmp_path / "ours.yaml"
    scenario.write_text("self_hosted: {capex_hardware: 1000, monthly_electricity: 50, monthly_bandwidth: 25,\n"
                        "  monthly_maintenance: 25, hardware_lifetime_months: 10}\n"
                        "cloud: {daily_tokens: 1000000, input_price_per_1k: 0.01, output_price_per_1k: 0.01,\n"
                        "  monthly_embedding: 0, monthly_vector_db: 0}\n")
    report = json.loads(cost("-f", str(scenario), "--json").stdout)
    assert report["break_even_months"] == pytest.approx(5.0)
    report = json.loads(cost("-f", str(scenario), "--power-watts", "700", "--kwh-price", "0.30", "--json").stdout)
    assert report["self_hosted"]["monthly_electricity"] == pytest.approx(151.2)


@pytest.mark.parametrize(("args", "message"), [
    (["--input-ratio", "2"], "input_ratio is a share"),
    (["--capex-hardware", "-5"], "cannot be negative"),
    (["--power-watts", "300"], "go together"),
    (["--file", "no-such-scenario"], "no scenario file"),
    (["--measured", "--gateway", "http://127.0.0.1:9"], "did not answer"),
    (["--measured", "--prometheus", "http://127.0.0.1:9"], "did not answer"),
])
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    done = cost(*args)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_field_in_a_scenario(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("cloud: {tokens_per_day: 5}\n")
    done = cost("-f", str(tmp_path / "bad.yaml"))
    assert done.returncode == 1 and "unknown fields ['tokens_per_day']" in done.stderr


def token_totals(url: str) -> tuple[float, float]:
    totals = {"llm_tokens_input_total": 0.0, "llm_tokens_generated_total": 0.0}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
    return totals["llm_tokens_input_total"], totals["llm_tokens_generated_total"]


def settled_totals(url: str, timeout: float = 30) -> tuple[float, float]:
    """The gateway's token counters once they stop moving: the last request's tokens are counted as
    its response finishes, which can be just after the client has read it."""
    deadline = time.monotonic() + timeout
    last = token_totals(url)
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = token_totals(url)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the token counters did not settle in {timeout} s")


def prometheus_value(url: str, query: str, at: float | None = None) -> float:
    params = {"query": query, **({"time": at} if at is not None else {})}
    result = httpx.get(url + "/api/v1/query", params=params).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def scraped(url: str, generated: float, timeout: float = 30, series: str = "llm_tokens_generated_total") -> None:
    """Wait until Prometheus holds this value of a token counter."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = httpx.get(url + "/api/v1/query", params={"query": f"sum({series})"}).json()
        if result["data"]["result"] and float(result["data"]["result"][0]["value"][1]) == generated:
            return
        time.sleep(0.3)
    raise AssertionError(f"Prometheus did not scrape {generated} of {series} in {timeout} s")


def test_measured_from_a_real_prometheus_and_from_the_gateway(tmp_path: Path) -> None:
    gateway = start_gateway({}, tmp_path, "cost-gateway")
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s}\nscrape_configs:\n"
                      f"  - job_name: aistack\n    static_configs: [{{targets: ['127.0.0.1:{gateway.port}']}}]\n")
    prometheus = start_prometheus(config, tmp_path)
    try:
        chat = {"model": "smollm2-135m-instruct", "max_tokens": 16, "temperature": 0,
                "messages": [{"role": "user", "content": "Name a colour."}]}
        scraped(prometheus.url, 0.0)  # the token series exist at 0 from the start, and Prometheus holds them
        for question in ("Name a colour.", "Name a fruit.", "Name a river in France.", "Say hello in Spanish."):
            chat["messages"][0]["content"] = question
            assert httpx.post(gateway.url + "/v1/chat/completions", json=chat, timeout=120).status_code == 200
        after = settled_totals(gateway.url)
        scraped(prometheus.url, after[1])
        scraped(prometheus.url, after[0], series="llm_tokens_input_total")
        # both series start at 0 on the same scrapes, so the ratio of their rates is that of the counts
        done = cost("--measured", "--prometheus", prometheus.url, "--window", "15m", "--json")  # all of it, even on a slow machine
        assert done.returncode == 0, done.stderr
        measured = json.loads(done.stdout)["measured"]
        # what Prometheus itself says over the same window, both rates at one instant as the command
        # takes them (its rate() extrapolates each series at the window's edges, so its ratio can stray
        # from the counts' by a few hundredths: 0.742 for 0.709)
        at = time.time()
        rates = [prometheus_value(prometheus.url, f"sum(rate({name}[15m]))", at)
                 for name in ("llm_tokens_input_total", "llm_tokens_generated_total")]
        assert measured["input_ratio"] == pytest.approx(rates[0] / sum(rates), abs=0.005)
        assert measured["input_ratio"] == pytest.approx(after[0] / sum(after), abs=0.06)
        assert measured["daily_tokens"] > sum(after) and measured["output_tokens_per_second"] > 0
        report = json.loads(done.stdout)
        assert report["cloud"]["daily_tokens"] == round(measured["daily_tokens"])

        direct = json.loads(cost("--measured", "--gateway", gateway.url, "--json").stdout)["measured"]
        assert direct["input_ratio"] == pytest.approx(after[0] / sum(after), abs=1e-6)
        uptime_days = direct["daily_tokens"] and sum(after) / direct["daily_tokens"]
        assert 0 < uptime_days < 1  # counters over the gateway's uptime (seconds), scaled to a day
    finally:
        prometheus.stop()
        gateway.stop()
