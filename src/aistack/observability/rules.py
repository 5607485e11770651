"""The alert rules: the seed's three, corrected, and the ones it lacked.

Each alert is a *signal* (a PromQL expression whose value means something on its own) compared
with a threshold from settings. Tests run every signal against a real Prometheus, so a rule can
never silently watch a series that does not exist.

Corrections to the seed:
- HighErrorRate divided errors per second by *tokens* per second: one failed request in ten,
  each answer 200 tokens long, read as 0.05%. Here it is failed requests over requests. Only
  server-side failures count (status="error"): a client's 400 or a 429 is not the model failing.
- GPUMemoryExhaustion divided by `gpu_memory_total_bytes`, which the seed never exported; the
  gateway now does (NVML).
- HighInferenceLatency took a quantile of raw bucket rates, one per instance and request type;
  buckets are now summed per model first, so several gateways give one P95.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aistack.settings.observability import Alert, AlertSettings


def p95(metric: str, by: str, window: str = "5m") -> str:
    return f"histogram_quantile(0.95, sum by ({by}, le) (rate({metric}_bucket[{window}])))"


@dataclass(frozen=True)
class AlertRule:
    name: str
    setting: str  # the field of AlertSettings with its threshold and `for`
    signal: str
    op: str
    summary: str  # may use {threshold}

    def config(self, alerts: AlertSettings) -> Alert:
        return getattr(alerts, self.setting)

    def expr(self, alerts: AlertSettings) -> str:
        return f"{self.signal} {self.op} {self.config(alerts).threshold:g}"

    def rule(self, alerts: AlertSettings) -> dict[str, Any]:
        config = self.config(alerts)
        return {
            "alert": self.name,
            "expr": self.expr(alerts),
            "for": config.for_,
            "labels": {"severity": config.severity},
            "annotations": {"summary": self.summary.format(threshold=f"{config.threshold:g}")},
        }


ALERTS = [
    AlertRule("HighInferenceLatency", "high_inference_latency",
              p95("llm_inference_duration_seconds", "model"), ">",
              "LLM inference P95 latency exceeds {threshold}s"),
    AlertRule("HighErrorRate", "high_error_rate",
              'sum by (model) (rate(llm_requests_total{status="error"}[5m])) '
              "/ sum by (model) (rate(llm_requests_total[5m]))", ">",
              "LLM error rate exceeds {threshold} of requests"),
    AlertRule("GPUMemoryExhaustion", "gpu_memory_exhaustion",
              "gpu_memory_used_bytes / gpu_memory_total_bytes", ">",
              "GPU memory utilisation above {threshold}"),
    AlertRule("LLMBackendDown", "llm_backend_down", "llm_backend_up", "==",
              "The gateway's LLM backend fails its health check"),
    AlertRule("ScrapeTargetDown", "scrape_target_down", "up", "==",
              "A scrape target (gateway, vLLM, Qdrant, exporter) is down"),
    AlertRule("QueueSaturated", "queue_saturated",
              "max by (model) (llm_queue_depth / (llm_queue_capacity > 0))", ">=",
              "A model's wait queue stays above {threshold} of its capacity"),
    AlertRule("HighTimeToFirstToken", "high_time_to_first_token",
              p95("llm_time_to_first_token_seconds", "model"), ">",
              "Time to first token P95 exceeds {threshold}s"),
    AlertRule("SlowRagRetrieval", "slow_rag_retrieval",
              p95("rag_retrieval_duration_seconds", "collection"), ">",
              "RAG retrieval P95 exceeds its {threshold}s budget"),
]


def alert_rules(alerts: AlertSettings) -> dict[str, Any]:
    """The rule file Prometheus loads (alerts/llm_alerts.yml)."""
    return {"groups": [{"name": "llm_alerts", "rules": [a.rule(alerts) for a in ALERTS]}]}
