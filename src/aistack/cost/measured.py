"""The real workload, for `aistack cost --measured`: tokens/day, the input share and the
throughput, from Prometheus (rates over a window of the gateway's counters) or from a gateway's
own /metrics (its counters since the process started)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

INPUT, OUTPUT = "llm_tokens_input_total", "llm_tokens_generated_total"


class MeasureError(Exception):
    pass


@dataclass
class Workload:
    daily_tokens: float
    input_ratio: float
    output_tokens_per_second: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _workload(input_per_s: float, output_per_s: float, source: str) -> Workload:
    total = input_per_s + output_per_s
    if total <= 0:
        raise MeasureError(f"no tokens were counted ({source}): send traffic first, or widen the window")
    return Workload(total * 86400, input_per_s / total, output_per_s, source)


def from_prometheus(url: str, window: str = "1d", timeout: float = 10) -> Workload:
    # both rates at one evaluation time: a scrape between two "now" queries moves rate()'s
    # extrapolation for one series and not the other (0.78 for a true 0.71 was seen)
    at = time.time()

    def scalar(query: str) -> float:
        try:
            body = httpx.get(url.rstrip("/") + "/api/v1/query", params={"query": query, "time": at},
                             timeout=timeout).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise MeasureError(f"Prometheus at {url} did not answer: {exc}") from None
        if body.get("status") != "success":
            raise MeasureError(f"Prometheus rejected {query}: {body.get('error')}")
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    rates = [scalar(f"sum(rate({name}[{window}]))") for name in (INPUT, OUTPUT)]
    return _workload(*rates, f"Prometheus {url}, rates over {window}")


def from_gateway(url: str, timeout: float = 10) -> Workload:
    try:
        response = httpx.get(url.rstrip("/") + "/metrics", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise MeasureError(f"the gateway's /metrics at {url} did not answer: {exc}") from None
    totals = {INPUT: 0.0, OUTPUT: 0.0}
    started = None
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
            elif sample.name == "process_start_time_seconds":
                started = sample.value
    if started is None:
        raise MeasureError(f"{url}/metrics has no process_start_time_seconds to measure a rate over")
    uptime = max(time.time() - started, 1.0)
    return _workload(totals[INPUT] / uptime, totals[OUTPUT] / uptime,
                     f"gateway {url}, counters over {uptime / 3600:.2f} h of uptime")
