"""Settings of the observability layer: /metrics, and what `aistack observability render` writes
(Prometheus scrape targets, alert thresholds, the Alertmanager receiver)."""

from __future__ import annotations

from pydantic import Field, model_validator

from aistack.settings.section import Section

DURATION = r"^\d+(ms|s|m|h|d)$"


class Alert(Section):
    threshold: float = Field(description="The value the alert compares its signal with.")
    for_: str = Field(alias="for", pattern=DURATION,
                      description="How long the condition must hold before the alert fires.")
    severity: str = Field("warning", description="The severity label Alertmanager routes on.")

    model_config = {**Section.model_config, "populate_by_name": True}


# threshold, for, severity of each alert rule (docs/observability.md says what each one watches)
ALERT_DEFAULTS: dict[str, tuple[float, str, str]] = {
    "high_inference_latency": (5.0, "5m", "warning"),
    "high_error_rate": (0.05, "3m", "critical"),
    "gpu_memory_exhaustion": (0.95, "2m", "critical"),
    "llm_backend_down": (0, "1m", "critical"),
    "scrape_target_down": (0, "2m", "critical"),
    "queue_saturated": (0.8, "5m", "warning"),
    "high_time_to_first_token": (2.0, "5m", "warning"),
    "slow_rag_retrieval": (0.2, "5m", "warning"),
}


def _default(name: str) -> dict[str, object]:
    threshold, for_, severity = ALERT_DEFAULTS[name]
    return {"threshold": threshold, "for": for_, "severity": severity}


def _alert(name: str):
    return Field(default_factory=lambda: Alert.model_validate(_default(name)))


class AlertSettings(Section):
    high_inference_latency: Alert = _alert("high_inference_latency")
    high_error_rate: Alert = _alert("high_error_rate")
    gpu_memory_exhaustion: Alert = _alert("gpu_memory_exhaustion")
    llm_backend_down: Alert = _alert("llm_backend_down")
    scrape_target_down: Alert = _alert("scrape_target_down")
    queue_saturated: Alert = _alert("queue_saturated")
    high_time_to_first_token: Alert = _alert("high_time_to_first_token")
    slow_rag_retrieval: Alert = _alert("slow_rag_retrieval")

    @model_validator(mode="before")
    @classmethod
    def _keep_unset_defaults(cls, data: object) -> object:
        """`alerts.high_error_rate.for: 10m` changes the duration and keeps the threshold."""
        if isinstance(data, dict):
            return {name: {**_default(name), **given} if isinstance(given, dict) and name in ALERT_DEFAULTS
                    else given for name, given in data.items()}
        return data


class ScrapeTargets(Section):
    gateway: list[str] = Field(default_factory=lambda: ["aistack:8000"],
                               description="aistack gateways (host:port) serving /metrics.")
    vllm: list[str] = Field(default_factory=lambda: ["vllm:8000"], description="vLLM servers.")
    qdrant: list[str] = Field(default_factory=lambda: ["qdrant:6333"], description="Qdrant servers.")
    node_exporter: list[str] = Field(default_factory=lambda: ["node-exporter:9100"],
                                     description="node-exporter on each host.")
    dcgm: list[str] = Field(default_factory=lambda: ["nvidia-dcgm-exporter:9400"],
                            description="NVIDIA DCGM exporters (GPU utilisation, temperature).")


class AlertmanagerSettings(Section):
    targets: list[str] = Field(default_factory=lambda: ["alertmanager:9093"],
                               description="Alertmanagers Prometheus sends alerts to.")
    webhook_url: str = Field("http://alert-receiver:5001/alerts",
                             description="Where Alertmanager posts notifications (a webhook receiver).")
    group_wait: str = Field("30s", pattern=DURATION, description="Wait before the first notification of a group.")
    group_interval: str = Field("5m", pattern=DURATION, description="Wait between notifications of a group.")
    repeat_interval: str = Field("4h", pattern=DURATION, description="Resend a firing alert this often.")


class ObservabilitySettings(Section):
    metrics: bool = Field(True, description="Serve Prometheus metrics at GET /metrics.")
    gpu: bool = Field(True, description="Report GPU memory through NVML when a GPU is present.")
    health_interval: float = Field(
        15.0, gt=0, description="Seconds between LLM backend health checks (llm_backend_up)."
    )
    scrape_interval: str = Field("15s", pattern=DURATION, description="Prometheus scrape interval.")
    evaluation_interval: str = Field("15s", pattern=DURATION, description="Prometheus rule evaluation interval.")
    targets: ScrapeTargets = Field(default_factory=ScrapeTargets)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings)
    grafana_datasource_uid: str = Field(
        "aistack-prometheus", description="uid of the Prometheus datasource the dashboards use."
    )
