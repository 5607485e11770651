"""End to end: `aistack serve` on the embedded model, a real Prometheus scraping it with the
rendered configuration, a real Alertmanager, and a webhook receiver. Traffic comes from the
official openai SDK; then every dashboard and rule expression runs against Prometheus, token
counters are compared with the SDK's usage, and a forced alert must reach the webhook."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.servers import (
    ServerProcess,
    free_port,
    start_alertmanager,
    start_gateway,
    start_prometheus,
)

from aistack.observability.dashboards import DASHBOARDS, RATE, VLLM
from aistack.observability.render import render
from aistack.observability.rules import ALERTS
from aistack.settings import Settings
from aistack.settings.observability import AlertSettings, ObservabilitySettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "smollm2-135m-instruct"
NEEDS_A_GPU = re.compile(r"DCGM_|gpu_memory_")  # no GPU, no exporter on this machine: may be empty
FORCED = "HighInferenceLatency"  # threshold 0: fires on the first observed request
MUST_STAY_SILENT = {"HighErrorRate", "LLMBackendDown", "ScrapeTargetDown"}


class Webhook:
    """Alertmanager's webhook receiver: keeps every notification it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alert_names(self) -> set[str]:
        return {a["labels"]["alertname"] for n in self.received for a in n["alerts"] if a["status"] == "firing"}


def observability(gateway: int, alertmanager: int, webhook: str) -> ObservabilitySettings:
    alerts = {name: {**getattr(AlertSettings(), name).model_dump(by_alias=True), "for": "0s"}
              for name in AlertSettings.model_fields}
    alerts["high_inference_latency"]["threshold"] = 0
    none: list[str] = []
    return ObservabilitySettings.model_validate({
        "scrape_interval": "1s", "evaluation_interval": "1s",
        "targets": {"gateway": [f"127.0.0.1:{gateway}"], "vllm": none, "qdrant": none, "node_exporter": none,
                    "dcgm": none},
        "alertmanager": {"targets": [f"127.0.0.1:{alertmanager}"], "webhook_url": webhook,
                         "group_wait": "1s", "group_interval": "1s"},
        "alerts": alerts,
    })


class Stack:
    def __init__(self, gateway: ServerProcess, prometheus: ServerProcess, webhook: Webhook):
        self.gateway = gateway
        self.prometheus = prometheus
        self.webhook = webhook
        self.sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
        self.http = httpx.Client(base_url=gateway.url, timeout=120)
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self.collection = f"obs-{uuid.uuid4().hex[:8]}"

    def query(self, expr: str) -> dict[str, Any]:
        response = httpx.get(self.prometheus.url + "/api/v1/query", params={"query": expr}, timeout=10)
        return response.json()

    def wait_for_scrapes(self, count: int = 3) -> None:
        time.sleep(count * 1.2)

    def add(self, usage: Any) -> None:
        self.usage["prompt_tokens"] += usage.prompt_tokens
        self.usage["completion_tokens"] += usage.completion_tokens

    def chat(self, content: str, **extra: Any) -> None:
        response = self.sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}], max_tokens=12, **extra)
        self.add(response.usage)

    def traffic(self, round_: int) -> int:
        """One round of everything the panels show. Returns the requests rejected with 429."""
        self.chat("Name a colour.")
        stream = self.sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Count to five."}], max_tokens=12, stream=True,
            stream_options={"include_usage": True})
        usage = [chunk.usage for chunk in stream if chunk.usage]
        self.add(usage[-1])
        self.add(self.sdk.completions.create(model=MODEL, prompt="The sky is", max_tokens=8).usage)
        with pytest.raises(openai.NotFoundError):
            self.sdk.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        text = f"Round {round_}: the aistack gateway listens on port 8000 and serves SmolLM2."
        files = [("files", (f"port-{round_}.txt", text.encode()))]
        assert self.http.post(f"/v1/collections/{self.collection}/documents", files=files).status_code == 200
        self.chat("Which port does the aistack gateway listen on?", extra_body={"rag": {"collection": self.collection}})
        return self.burst()

    def burst(self, clients: int = 12) -> int:
        """More clients than the model runs and queues (4 sequences and max_queue 4 in the test profile)."""
        def one(_: int) -> Any:
            try:
                return self.sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "Write a long story."}], max_tokens=24).usage
            except openai.RateLimitError:
                return None

        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(one, range(clients)))
        for usage in filter(None, results):
            self.add(usage)
        return results.count(None)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("observability")
    webhook = Webhook()
    gateway = start_gateway({"AISTACK_OBSERVABILITY__HEALTH_INTERVAL": "1"}, tmp, "observed")
    am_port = free_port()
    render(Settings(observability=observability(gateway.port, am_port, webhook.url)), tmp / "config")
    alertmanager = start_alertmanager(tmp / "config" / "alertmanager.yml", tmp, am_port)
    prometheus = start_prometheus(tmp / "config" / "prometheus.yml", tmp)
    stack = Stack(gateway, prometheus, webhook)
    try:
        deadline = time.monotonic() + 30
        while not stack.query('up{job="llm-metrics"} == 1')["data"]["result"]:
            assert time.monotonic() < deadline, prometheus.log()
            time.sleep(0.5)
        stack.rejected = stack.traffic(1)  # creates the series
        stack.wait_for_scrapes()
        stack.rejected += stack.traffic(2)  # moves them, so every rate has two points
        stack.wait_for_scrapes()
        yield stack
    finally:
        for server in (prometheus, alertmanager, gateway):
            server.stop()
        webhook.server.shutdown()


def gateway_samples(stack: Stack) -> dict[tuple[str, frozenset], float]:
    text = stack.http.get("/metrics").text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[tuple[str, frozenset], float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def test_token_counters_equal_the_sdk_usage(stack: Stack) -> None:
    samples = gateway_samples(stack)
    assert total(samples, "llm_tokens_generated_total") == stack.usage["completion_tokens"] > 0
    assert total(samples, "llm_tokens_input_total") == stack.usage["prompt_tokens"] > 0
    rejected = sum(v for (n, labels), v in samples.items()
                   if n == "llm_requests_rejected_total" and ("reason", "queue_full") in labels)
    assert rejected == stack.rejected > 0  # the bursts overflowed the queue (4 running, 4 waiting)


def test_gateway_metrics_pass_promtool_check_metrics(stack: Stack) -> None:
    text = stack.http.get("/metrics").text
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def expressions() -> list[tuple[str, str]]:
    found = [(f"panel {p.title!r}", q.expr.replace(RATE, "1m")) for d in DASHBOARDS if d is not VLLM
             for p in d.panels() for q in p.queries]  # vLLM's panels are run against a real vLLM (test_vllm.py)
    return found + [(f"alert {a.name}", a.signal) for a in ALERTS]


@pytest.mark.parametrize(("where", "expr"), expressions(), ids=[w for w, _ in expressions()])
def test_every_dashboard_and_rule_expression_returns_data(stack: Stack, where: str, expr: str) -> None:
    answer = stack.query(expr)
    assert answer["status"] == "success", answer
    if not NEEDS_A_GPU.search(expr):
        assert answer["data"]["result"], f"{where}: no data for {expr}"


def test_all_rules_load_and_evaluate(stack: Stack) -> None:
    groups = httpx.get(stack.prometheus.url + "/api/v1/rules").json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {r["name"] for r in rules} == {a.name for a in ALERTS}
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_a_forced_alert_reaches_the_webhook_through_alertmanager(stack: Stack) -> None:
    deadline = time.monotonic() + 45
    while FORCED not in stack.webhook.alert_names():
        assert time.monotonic() < deadline, f"no {FORCED} notification; got {stack.webhook.received}"
        time.sleep(0.5)
    assert not stack.webhook.alert_names() & MUST_STAY_SILENT, stack.webhook.alert_names()
