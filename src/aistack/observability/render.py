"""`aistack observability render`: prometheus.yml, the alert rules, alertmanager.yml, and Grafana
dashboards with their provisioning files, all from settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from aistack.observability.dashboards import DASHBOARDS, build
from aistack.observability.rules import alert_rules
from aistack.settings import Settings
from aistack.settings.observability import ObservabilitySettings

RULES_FILE = "alerts/llm_alerts.yml"
# The seed's job names; the gateway serves what the seed's separate `llm-metrics` exporter did.
JOBS = [("llm-metrics", "gateway", "/metrics"), ("vllm", "vllm", "/metrics"), ("qdrant", "qdrant", "/metrics"),
        ("node-exporter", "node_exporter", None), ("nvidia-gpu", "dcgm", None)]


def prometheus_config(config: ObservabilitySettings, credentials: dict[str, str] | None = None) -> dict[str, Any]:
    """`credentials`: job -> a file holding the Bearer key that target requires (the bundle's Qdrant)."""
    jobs = []
    for job, field, path in JOBS:
        targets = getattr(config.targets, field)
        if targets:  # a job with no targets is left out, not scraped in vain
            key_file = (credentials or {}).get(job)
            jobs.append({"job_name": job, "static_configs": [{"targets": targets}],
                         **({"metrics_path": path} if path else {}),
                         **({"authorization": {"credentials_file": key_file}} if key_file else {})})
    return {
        "global": {"scrape_interval": config.scrape_interval, "evaluation_interval": config.evaluation_interval},
        "scrape_configs": jobs,
        "rule_files": [RULES_FILE],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": config.alertmanager.targets}]}]},
    }


def alertmanager_config(config: ObservabilitySettings) -> dict[str, Any]:
    am = config.alertmanager
    return {
        "route": {"receiver": "webhook", "group_by": ["alertname", "model"], "group_wait": am.group_wait,
                  "group_interval": am.group_interval, "repeat_interval": am.repeat_interval},
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": am.webhook_url, "send_resolved": True}]}],
    }


def grafana_provisioning(config: ObservabilitySettings, prometheus_url: str) -> dict[str, dict[str, Any]]:
    return {
        "grafana/provisioning/datasources/aistack.yml": {"apiVersion": 1, "datasources": [{
            "name": "Prometheus (aistack)", "type": "prometheus", "uid": config.grafana_datasource_uid,
            "access": "proxy", "url": prometheus_url, "isDefault": True}]},
        "grafana/provisioning/dashboards/aistack.yml": {"apiVersion": 1, "providers": [{
            "name": "aistack", "folder": "aistack", "type": "file", "disableDeletion": False,
            "options": {"path": "/var/lib/grafana/dashboards/aistack"}}]},
    }


def render(settings: Settings, out: Path, prometheus_url: str = "http://prometheus:9090",
           credentials: dict[str, str] | None = None) -> list[Path]:
    """Write every file under `out`; returns their paths."""
    config = settings.observability
    files: dict[str, str] = {
        "prometheus.yml": yaml.safe_dump(prometheus_config(config, credentials), sort_keys=False),
        RULES_FILE: yaml.safe_dump(alert_rules(config.alerts), sort_keys=False, width=120),
        "alertmanager.yml": yaml.safe_dump(alertmanager_config(config), sort_keys=False),
    }
    for name, data in grafana_provisioning(config, prometheus_url).items():
        files[name] = yaml.safe_dump(data, sort_keys=False)
    for spec in DASHBOARDS:
        files[f"grafana/dashboards/{spec.uid}.json"] = json.dumps(
            build(spec, config.grafana_datasource_uid), indent=2) + "\n"
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
