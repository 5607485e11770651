"""The rendered monitoring files, checked by Prometheus' and Alertmanager's own tools: promtool
check config / check rules, amtool check-config, and `promtool test rules` cases in which every
alert fires on a series that should trigger it and stays silent on one that should not."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from aistack.observability.dashboards import DASHBOARDS
from aistack.observability.render import RULES_FILE, render
from aistack.observability.rules import ALERTS
from aistack.settings import Settings

pytestmark = [pytest.mark.integration]
M = 'model="m"'


def histogram(name: str, labels: str, counts: dict[str, str]) -> list[dict[str, str]]:
    """Bucket series: `counts` maps each `le` to a promtool values string."""
    return [{"series": f'{name}_bucket{{{labels},le="{le}"}}', "values": values} for le, values in counts.items()]


def latency_case(name: str, slow_le: str, fast_le: str, top: str, extra: str = M) -> tuple[list, list]:
    """Firing: every observation above `slow_le`; silent: every one at or under `fast_le`."""
    firing = histogram(name, extra, {slow_le: "0x20", top: "0+1x20", "+Inf": "0+1x20"})
    silent = histogram(name, extra, {fast_le: "0+1x20", slow_le: "0+1x20", top: "0+1x20", "+Inf": "0+1x20"})
    return firing, silent


def requests(error: int, success: int) -> list[dict[str, str]]:
    return [
        {"series": f'llm_requests_total{{{M},status="error"}}', "values": f"0+{error}x20"},
        {"series": f'llm_requests_total{{{M},status="success"}}', "values": f"0+{success}x20"},
        # 200 tokens per answer: the seed's errors/tokens ratio reads 10 errors in 100 as 0.05%
        {"series": f'llm_tokens_generated_total{{{M},endpoint="/v1/chat/completions"}}',
         "values": f"0+{success * 200}x20"},
        {"series": f'llm_inference_errors_total{{{M},error_type="UpstreamError"}}', "values": f"0+{error}x20"},
    ]


GPU = 'gpu_id="0",instance="g:8000",job="llm-metrics"'
UP = 'instance="vllm:8000",job="vllm"'
BACKEND = 'backend="llamacpp",instance="g:8000",job="llm-metrics"'
# alert -> (firing series, silent series, labels of the firing alert)
CASES: dict[str, tuple[list, list, dict[str, str]]] = {
    "HighInferenceLatency": (*latency_case("llm_inference_duration_seconds", "5.0", "1.0", "10.0",
                                           f'{M},request_type="chat"'), {"model": "m"}),
    "HighErrorRate": (requests(10, 90), requests(1, 99), {"model": "m"}),
    "GPUMemoryExhaustion": (
        [{"series": f"gpu_memory_used_bytes{{{GPU}}}", "values": "79e9x20"},
         {"series": f"gpu_memory_total_bytes{{{GPU}}}", "values": "80e9x20"}],
        [{"series": f"gpu_memory_used_bytes{{{GPU}}}", "values": "40e9x20"},
         {"series": f"gpu_memory_total_bytes{{{GPU}}}", "values": "80e9x20"}],
        {"gpu_id": "0", "instance": "g:8000", "job": "llm-metrics"}),
    "LLMBackendDown": ([{"series": f"llm_backend_up{{{BACKEND}}}", "values": "0x20"}],
                       [{"series": f"llm_backend_up{{{BACKEND}}}", "values": "1x20"}],
                       {"backend": "llamacpp", "instance": "g:8000", "job": "llm-metrics"}),
    "ScrapeTargetDown": ([{"series": f"up{{{UP}}}", "values": "0x20"}],
                         [{"series": f"up{{{UP}}}", "values": "1x20"}],
                         {"instance": "vllm:8000", "job": "vllm"}),
    "QueueSaturated": (
        [{"series": f"llm_queue_depth{{{M}}}", "values": "15x20"},
         {"series": f"llm_queue_capacity{{{M}}}", "values": "16x20"}],
        [{"series": f"llm_queue_depth{{{M}}}", "values": "2x20"},
         {"series": f"llm_queue_capacity{{{M}}}", "values": "16x20"}],
        {"model": "m"}),
    "HighTimeToFirstToken": (*latency_case("llm_time_to_first_token_seconds", "2.0", "0.25", "5.0"), {"model": "m"}),
    "SlowRagRetrieval": (*latency_case("rag_retrieval_duration_seconds", "0.3", "0.05", "0.5", 'collection="c"'),
                         {"collection": "c"}),
}
SEED_HIGH_ERROR_RATE = {"groups": [{"name": "seed", "rules": [{
    "alert": "SeedHighErrorRate",
    "expr": "rate(llm_inference_errors_total[5m]) / rate(llm_tokens_generated_total[5m]) > 0.05"}]}]}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render")
    render(Settings(), out)
    return out


def run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_every_alert_has_cases() -> None:
    assert {a.name for a in ALERTS} == set(CASES)


def test_prometheus_config_and_rules_pass_promtool(rendered: Path) -> None:
    assert "SUCCESS" in run("promtool", "check", "config", rendered / "prometheus.yml")
    assert f"SUCCESS: {len(ALERTS)} rules found" in run("promtool", "check", "rules", rendered / RULES_FILE)
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    assert [j["job_name"] for j in config["scrape_configs"]] == [
        "llm-metrics", "vllm", "qdrant", "node-exporter", "nvidia-gpu"]


def test_alertmanager_config_passes_amtool(rendered: Path) -> None:
    assert "SUCCESS" in run("amtool", "check-config", rendered / "alertmanager.yml")


def test_each_alert_fires_when_it_should_and_only_then(rendered: Path) -> None:
    alerts = {a.name: a for a in ALERTS}
    settings = Settings().observability.alerts
    tests: list[dict[str, Any]] = []
    for name, (firing, silent, labels) in CASES.items():
        config = alerts[name].config(settings)
        expected = {"exp_labels": {**labels, "severity": config.severity},
                    "exp_annotations": alerts[name].rule(settings)["annotations"]}
        tests.append({"name": f"{name} fires", "interval": "1m", "input_series": firing,
                      "alert_rule_test": [{"eval_time": "15m", "alertname": name, "exp_alerts": [expected]}]})
        tests.append({"name": f"{name} stays silent", "interval": "1m", "input_series": silent,
                      "alert_rule_test": [{"eval_time": "15m", "alertname": name, "exp_alerts": []}]})
    # The seed's HighErrorRate misses 10 failed requests in 100 that the corrected rule catches.
    tests.append({"name": "seed error rate is blind", "interval": "1m", "input_series": CASES["HighErrorRate"][0],
                  "alert_rule_test": [{"eval_time": "15m", "alertname": "SeedHighErrorRate", "exp_alerts": []}]})
    (rendered / "alerts" / "seed.yml").write_text(yaml.safe_dump(SEED_HIGH_ERROR_RATE))
    spec = rendered / "alerts" / "tests.yml"
    spec.write_text(yaml.safe_dump({"rule_files": ["llm_alerts.yml", "seed.yml"], "evaluation_interval": "1m",
                                    "tests": tests}, sort_keys=False))
    output = run("promtool", "test", "rules", spec)
    assert "SUCCESS" in output and "FAILED" not in output


def test_dashboards_are_what_the_sdk_emits_with_every_query_set(rendered: Path) -> None:
    for spec in DASHBOARDS:
        data = json.loads((rendered / "grafana" / "dashboards" / f"{spec.uid}.json").read_text())
        # the SDK's own model reads the file back to the same JSON: nothing it does not know
        assert json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder)) == data
        panels = [p for p in data["panels"] if p["type"] != "row"]
        assert [p["title"] for p in panels] == [p.title for p in spec.panels()]
        for panel in panels:
            assert panel["datasource"] == {"type": "prometheus", "uid": "aistack-prometheus"}, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["expr"].strip() and target["datasource"]["uid"] == "aistack-prometheus"
    provisioning = yaml.safe_load((rendered / "grafana/provisioning/datasources/aistack.yml").read_text())
    assert provisioning["datasources"][0]["uid"] == "aistack-prometheus"
