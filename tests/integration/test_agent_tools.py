"""The agents' built-in tools against real servers: a real Prometheus, the knowledge base on the
embedded defaults, a `docker` stand-in that records its argv (no Docker here), and the Proxmox VE
API test server (tests/pve_server.py: no Proxmox VE can run here). Every failure must come back as
an error result the model can read, never as an exception."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
import time
from pathlib import Path
from typing import Any

import pytest
from support.pve_server import PveServer, node_status
from support.servers import ServerProcess, start_prometheus_on_a_down_target

from aistack.agents.tools import AgentTool, ToolContext, ToolError, execute, registered
from aistack.container import Container
from aistack.principals import OPERATOR, Principal
from aistack.settings.model import Settings

pytestmark = pytest.mark.integration


def call(tools: dict[str, AgentTool], name: str, context: ToolContext, **arguments: Any) -> tuple[bool, str]:
    chosen = tools[name]
    try:
        parsed = chosen.parse(arguments, context)
    except ToolError as exc:
        return False, f"error: {exc}"
    outcome = execute(chosen, parsed, context, timeout=20, limit=4000)
    return outcome.ok, outcome.content


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory):
    server = start_prometheus_on_a_down_target(tmp_path_factory.mktemp("prom"))
    yield server
    server.stop()


def context_for(**agents: Any) -> ToolContext:
    return ToolContext(Settings(agents=agents), caller=OPERATOR)


def test_query_prometheus_returns_series_and_reports_bad_queries(prometheus: ServerProcess) -> None:
    context = context_for(prometheus_url=prometheus.url)
    tools = registered(context.settings)
    deadline = time.monotonic() + 30
    while True:
        ok, text = call(tools, "query_prometheus", context, query='up{job="vllm"}')
        assert ok, text
        result = json.loads(text)
        if result["series"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert result["type"] == "vector" and result["series"][0]["metric"]["job"] == "vllm"
    assert result["series"][0]["value"] == "0" and result["total_series"] == 1
    ok, text = call(tools, "query_prometheus", context, query="sum(rate(up[1m]")
    assert not ok and "bad_data" in text
    # a run started by a key without `deploy` gets the refusal as its result, and nothing is asked
    user = replace(context, caller=Principal("key:x", team="red"))
    ok, text = call(tools, "query_prometheus", user, query='up{job="vllm"}')
    assert not ok and "needs the 'deploy' scope" in text
    ok, text = call(tools, "query_prometheus", context_for(prometheus_url="http://127.0.0.1:9"), query="up")
    assert not ok and "unreachable" in text
    ok, text = call(tools, "query_prometheus", context, endpoint="http://elsewhere", query="up")
    assert not ok and "endpoint" in text  # the seed let the model pick the endpoint; settings do now


@pytest.fixture(scope="module")
def pve(tmp_path_factory: pytest.TempPathFactory):
    server = PveServer(tmp_path_factory.mktemp("pve"))
    server.state.nodes["pve1"] = node_status(memory_used_gib=60, memory_total_gib=64)
    yield server
    server.stop()


def proxmox_context(pve: PveServer, **overrides: Any) -> ToolContext:
    settings = {"host": "127.0.0.1", "port": pve.port, "user": "root@pam", "token_name": "aistack",
                "token_value": "s3cret", "ca_bundle": str(pve.cert), **overrides}
    return ToolContext(Settings(proxmox=settings), caller=OPERATOR)


def test_proxmox_node_status_through_the_api_with_a_token(pve: PveServer) -> None:
    context = proxmox_context(pve)
    ok, text = call(registered(context.settings), "check_proxmox_node_status", context, node="pve1")
    assert ok, text
    status = json.loads(text)
    assert status["memory_used_percent"] == 93.8 and status["memory_total_gib"] == 64.0
    assert status["cpu_percent"] == 12.0 and status["cpus"] == 32
    method, path, auth = pve.state.requests[-1]
    assert (method, path) == ("GET", "/api2/json/nodes/pve1/status")
    assert auth == "PVEAPIToken=root@pam!aistack=s3cret"


@pytest.mark.parametrize(("overrides", "node", "expected"), [
    ({"token_value": "wrong"}, "pve1", "401"),
    ({}, "pve9", "595"),
    ({"ca_bundle": None}, "pve1", "unreachable"),  # a self-signed certificate is not trusted by default
    ({"token_value": None}, "pve1", "no Proxmox API token"),
    ({}, "../../access", "invalid arguments"),
])
def test_proxmox_failures_are_results(pve: PveServer, overrides: dict[str, Any], node: str, expected: str) -> None:
    context = proxmox_context(pve, **overrides)
    ok, text = call(registered(context.settings), "check_proxmox_node_status", context, node=node)
    assert not ok and expected in text, text


@pytest.fixture
def docker(tmp_path: Path) -> Path:
    """A `docker` that records its arguments, one per line, and fails for the service 'broken'."""
    script = tmp_path / "docker"
    log = tmp_path / "docker.log"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\necho ---- >> {log}\n'
                      'for a in "$@"; do [ "$a" = broken ] && { echo "no such service: broken" >&2; exit 1; }; done\n'
                      'echo "Restarting done"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_restart_runs_the_compose_command_as_a_list_for_allowed_services(docker: Path, tmp_path: Path) -> None:
    context = context_for(docker={"command": [str(docker), "compose"], "compose_dir": str(tmp_path / "stack"),
                                  "allowed_services": ["vllm", "broken"]})
    tools = registered(context.settings)
    assert tools["restart_docker_service"].destructive
    ok, text = call(tools, "restart_docker_service", context, service_name="vllm")
    assert ok and "restarted vllm" in text
    argv = (tmp_path / "docker.log").read_text().split("----\n")[0].splitlines()
    assert argv == ["compose", "-f", str(tmp_path / "stack" / "docker-compose.yml"), "restart", "vllm"]
    ok, text = call(tools, "restart_docker_service", context, service_name="qdrant")
    assert not ok and "not on the allowlist" in text
    ok, text = call(tools, "restart_docker_service", context, service_name="vllm; rm -rf /")
    assert not ok and "invalid arguments" in text
    ok, text = call(tools, "restart_docker_service", context, service_name="broken")
    assert not ok and "exit 1" in text and "no such service" in text
    assert (tmp_path / "docker.log").read_text().count("----") == 2  # the refused calls never ran


def test_search_knowledge_base_returns_passages_with_sources(tmp_path: Path) -> None:
    docs = tmp_path / "runbooks"
    docs.mkdir()
    (docs / "vllm.md").write_text("# vLLM runbook\n\nWhen vLLM runs out of KV cache, lower --max-model-len "
                                  "or raise --gpu-memory-utilization, then restart the vllm service.\n")
    (docs / "qdrant.md").write_text("# Qdrant runbook\n\nSnapshots are taken daily and kept for seven days.\n")
    container = Container(Settings(home=tmp_path / "home", agents={"knowledge_collection": "runbooks"}))
    try:
        container.knowledge.ingestor.ingest_path("runbooks", docs)
        context = ToolContext(container.settings, container.knowledge.passages, caller=OPERATOR)
        ok, text = call(registered(context.settings), "search_knowledge_base", context, query="vLLM KV cache full")
        assert ok, text
        passages = json.loads(text)
        assert passages[0]["filename"] == "vllm.md" and "max-model-len" in passages[0]["text"]
        context.settings.agents.knowledge_collection = "missing"
        ok, text = call(registered(context.settings), "search_knowledge_base", context, query="anything")
        assert not ok and "missing" in text
    finally:
        for name in ("store", "embedder"):
            if name in container._bindings:
                container._bindings[name].close()


def test_a_slow_tool_times_out_as_an_error_result() -> None:
    from aistack.agents.tools import make_tool

    def sleepy(seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    chosen = make_tool(sleepy)
    context = ToolContext(Settings(), caller=OPERATOR)
    started = time.monotonic()
    outcome = execute(chosen, chosen.parse({"seconds": 5}, context), context, timeout=0.3, limit=100)
    assert not outcome.ok and "timed out after 0.3 s" in outcome.content
    assert time.monotonic() - started < 2


def test_settings_narrow_what_a_small_model_may_send(pve: PveServer) -> None:
    context = proxmox_context(pve, nodes=["pve1", "pve2"])
    context.settings.agents.docker.allowed_services = ["vllm"]
    tools = registered(context.settings)
    node = tools["check_proxmox_node_status"].spec(context)["function"]["parameters"]["properties"]["node"]
    assert node["enum"] == ["pve1", "pve2"] and "pattern" not in node
    service = tools["restart_docker_service"].spec(context)["function"]["parameters"]["properties"]["service_name"]
    assert service["enum"] == ["vllm"]
    assert "enum" not in tools["check_proxmox_node_status"].spec(context_for())["function"]["parameters"]["properties"]["node"]


def test_a_restart_gets_the_restart_timeout_not_the_generic_tool_timeout(tmp_path: Path) -> None:
    slow = tmp_path / "docker"
    slow.write_text('#!/bin/sh\nsleep 1.5\necho "Restarting done"\n')
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    context = context_for(tool_timeout=0.5, docker={"command": [str(slow), "compose"], "timeout": 10,
                                                    "compose_dir": str(tmp_path), "allowed_services": ["vllm"]})
    chosen = registered(context.settings)["restart_docker_service"]
    timeout = chosen.timeout_for(context, context.settings.agents.tool_timeout)
    assert timeout == 15  # docker.timeout, and 5 s for the tool's own work
    outcome = execute(chosen, chosen.parse({"service_name": "vllm"}, context), context, timeout, limit=4000)
    assert outcome.ok and "restarted vllm" in outcome.content, outcome.content
