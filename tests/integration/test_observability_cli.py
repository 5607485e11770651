"""`aistack observability render | status` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from support.servers import ServerProcess, free_port
from support.cli import invoke

pytestmark = pytest.mark.integration


def test_render_writes_every_file_from_settings(tmp_path: Path) -> None:
    env = {"AISTACK_OBSERVABILITY__TARGETS__GATEWAY": "[gw1:8000, gw2:8000]",
           "AISTACK_OBSERVABILITY__TARGETS__QDRANT": "[]",
           "AISTACK_OBSERVABILITY__ALERTS__HIGH_ERROR_RATE__THRESHOLD": "0.02"}
    done = invoke("observability", "render", "--out", str(tmp_path / "m"), env=env)
    assert done.returncode == 0, done.stderr
    written = sorted(str(Path(p).relative_to(tmp_path / "m")) for p in done.stdout.split())
    assert written == sorted([
        "prometheus.yml", "alerts/llm_alerts.yml", "alertmanager.yml",
        "grafana/provisioning/datasources/aistack.yml", "grafana/provisioning/dashboards/aistack.yml",
        "grafana/dashboards/aistack-llm.json", "grafana/dashboards/aistack-gpu-rag.json",
        "grafana/dashboards/aistack-vllm.json"])
    config = yaml.safe_load((tmp_path / "m" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert jobs["llm-metrics"] == ["gw1:8000", "gw2:8000"] and "qdrant" not in jobs
    rules = yaml.safe_load((tmp_path / "m" / "alerts" / "llm_alerts.yml").read_text())["groups"][0]["rules"]
    assert next(r for r in rules if r["alert"] == "HighErrorRate")["expr"].endswith("> 0.02")


def test_status_reads_a_running_gateway(embedded_gateway: ServerProcess) -> None:
    body = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    assert httpx.post(embedded_gateway.url + "/v1/chat/completions", json=body, timeout=60).status_code == 200
    done = invoke("observability", "status", "--url", embedded_gateway.url, "--json")
    assert done.returncode == 0, done.stderr
    [model] = [m for m in json.loads(done.stdout) if m["model"] == "smollm2-135m-instruct"]
    assert model["requests"] >= 1 and model["tokens_generated"] >= 1 and model["latency_p50_s"] > 0
    table = invoke("observability", "status", "--url", embedded_gateway.url, env={"COLUMNS": "200"})
    assert table.returncode == 0 and "smollm2-135m-instruct" in table.stdout and "TTFT p95" in table.stdout


def test_status_without_a_gateway_says_what_to_do() -> None:
    done = invoke("observability", "status", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "cannot reach" in message and "Is the gateway running (aistack serve)?" in message
