"""`aistack observability status`: one scrape of a gateway's /metrics, summed per model.

Figures are totals since the gateway started (one scrape has no rates); quantiles are read off
the histogram buckets the way PromQL's histogram_quantile reads them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aistack.client.http import ClientError
from aistack.metrics import bucket_quantile


@dataclass
class ModelStatus:
    model: str
    requests: int = 0
    errors: int = 0
    rejected: int = 0
    cancelled: int = 0
    tokens_generated: int = 0
    tokens_input: int = 0
    busy_seconds: float = 0.0
    active: int = 0
    queue: int | None = None
    latency: dict[float, float] = field(default_factory=dict)  # cumulative count by upper bound
    ttft: dict[float, float] = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float | None:
        """Generated tokens over the time requests took: per-request throughput."""
        return self.tokens_generated / self.busy_seconds if self.busy_seconds else None

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        for name in ("latency", "ttft", "busy_seconds"):
            data.pop(name)
        data.update(
            tokens_per_second=_round(self.tokens_per_second),
            latency_p50_s=_round(bucket_quantile(0.5, self.latency)),
            latency_p95_s=_round(bucket_quantile(0.95, self.latency)),
            ttft_p50_s=_round(bucket_quantile(0.5, self.ttft)),
            ttft_p95_s=_round(bucket_quantile(0.95, self.ttft)),
        )
        return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _add(buckets: dict[float, float], bound: float, count: float) -> None:
    buckets[bound] = buckets.get(bound, 0.0) + count


def parse(text: str) -> list[ModelStatus]:
    models: dict[str, ModelStatus] = {}

    def of(labels: dict[str, str]) -> ModelStatus:
        name = labels["model"]
        return models.setdefault(name, ModelStatus(name))

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if "model" not in labels:
                continue
            status = of(labels)
            name = sample.name
            if name == "llm_requests_total":
                status.requests += int(value)
                outcome = labels["status"]
                status.errors += int(value) if outcome == "error" else 0
                status.rejected += int(value) if outcome == "rejected" else 0
                status.cancelled += int(value) if outcome == "cancelled" else 0
            elif name == "llm_tokens_generated_total":
                status.tokens_generated += int(value)
            elif name == "llm_tokens_input_total":
                status.tokens_input += int(value)
            elif name == "llm_inference_duration_seconds_sum":
                status.busy_seconds += value
            elif name == "llm_inference_duration_seconds_bucket":
                _add(status.latency, float(labels["le"]), value)
            elif name == "llm_time_to_first_token_seconds_bucket":
                _add(status.ttft, float(labels["le"]), value)
            elif name == "llm_active_requests":
                status.active += int(value)
            elif name == "llm_queue_depth":
                status.queue = (status.queue or 0) + int(value)
    return sorted(models.values(), key=lambda m: m.model)


def scrape(url: str, timeout: float = 10.0) -> str:
    target = url.rstrip("/") + "/metrics"
    try:
        response = httpx.get(target, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach {target}: {exc}. Is the gateway running (aistack serve)?") from None
    if response.status_code != 200:
        raise ClientError(f"{target} answered {response.status_code}; is observability.metrics on?")
    return response.text
