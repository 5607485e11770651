"""The A/B report: each slot's requests, error rate, latency and tokens per request, from the
slot-labelled metrics of this gateway."""

from __future__ import annotations

from typing import Any

from aistack.metrics import Metrics, bucket_quantile


def slot_report(metrics: Metrics) -> list[dict[str, Any]]:
    slots: dict[str, dict[str, Any]] = {}

    def of(name: str) -> dict[str, Any]:
        return slots.setdefault(name, {"slot": name, "requests": 0, "errors": 0, "tokens": 0.0, "seconds": 0.0,
                                       "buckets": {}})

    for family in metrics.registry.collect():
        for sample in family.samples:
            slot = sample.labels.get("slot")
            if slot is None:
                continue
            entry = of(slot)
            if sample.name == "llm_slot_requests_total":
                entry["requests"] += int(sample.value)
                entry["errors"] += int(sample.value) if sample.labels["status"] == "error" else 0
            elif sample.name == "llm_slot_tokens_generated_total":
                entry["tokens"] += sample.value
            elif sample.name == "llm_slot_request_duration_seconds_sum":
                entry["seconds"] += sample.value
            elif sample.name == "llm_slot_request_duration_seconds_bucket":
                entry["buckets"][float(sample.labels["le"])] = sample.value
    report = []
    for entry in sorted(slots.values(), key=lambda e: e["slot"]):
        buckets = entry.pop("buckets")
        answered = entry["requests"] - entry["errors"]
        report.append({**entry, "error_rate": round(entry["errors"] / entry["requests"], 4) if entry["requests"] else None,
                       "latency_p50_s": bucket_quantile(0.5, buckets), "latency_p95_s": bucket_quantile(0.95, buckets),
                       "tokens_per_request": round(entry["tokens"] / answered, 2) if answered else None,
                       "seconds": round(entry["seconds"], 3)})
    return report
