"""Agents on the embedded SmolLM2-135M model, end to end: through the gateway's /v1/agents API
(a real Prometheus behind query_prometheus, runs of team ops's key, approval by a key with
`agents:approve` in that team and by no one else, streamed events, bad input), and through the
CLI, where a run is SIGKILLed mid-tool and `aistack agent resume` finishes it without repeating
the completed call."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from support.agent_plugins import kill_during_call_2
from support.cli import invoke
from support.servers import BIN, ServerProcess, start_gateway, start_prometheus_on_a_down_target

from aistack.principals import OPERATOR

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = "admin-key-for-tests"
TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("agents")
    prometheus = start_prometheus_on_a_down_target(tmp)
    docker = tmp / "docker"
    docker.write_text(f'#!/bin/sh\necho "$@" >> {tmp / "docker.log"}\n')
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    (tmp / "settings.yaml").write_text(json.dumps({
        "deploy": {"admin_keys": [ADMIN]},
        "agents": {
            "prometheus_url": prometheus.url, "max_tool_output": 400,
            "docker": {"command": [str(docker), "compose"], "compose_dir": str(tmp), "allowed_services": ["vllm"]},
            "definitions": {
                "probe": {"tools": ["query_prometheus"], "tool_choice": "required", "max_iterations": 1,
                          "instructions": "Check whether the vLLM scrape target is up."},
                "restarter": {"tools": ["restart_docker_service"], "tool_choice": "required", "max_iterations": 1,
                              "instructions": "Restart the vllm service."}}}}))
    gateway = start_gateway({}, tmp, "agents-gateway")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for team in ("ops", "blue"):
        assert httpx.post(gateway.url + "/v1/admin/teams", json={"name": team}, headers=admin).status_code == 201
    for name, team, scopes in (("ops", "ops", ["agents:run", "deploy", "chat"]), ("approver", "ops", ["agents:approve"]),
                               ("blue", "blue", ["agents:run", "agents:approve", "deploy"])):
        made = httpx.post(gateway.url + "/v1/admin/keys", json={"team": team, "scopes": scopes}, headers=admin)
        KEYS[name] = made.json()["secret"]
    yield gateway, prometheus, tmp
    gateway.stop()
    prometheus.stop()


KEYS: dict[str, str] = {}  # ops: runs agents; approver: approves ops's runs; blue: another team


def post(gateway: ServerProcess, path: str, body: dict | None = None, key: str | None = "ops") -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEYS.get(key, key)}"} if key else {}
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=300)


def get(gateway: ServerProcess, path: str, key: str = "ops") -> httpx.Response:
    return httpx.get(gateway.url + path, headers={"Authorization": f"Bearer {KEYS[key]}"}, timeout=30)


def test_a_run_queries_the_real_prometheus_and_stops_at_its_limit(stack) -> None:
    gateway, _, _ = stack
    reply = post(gateway, "/v1/agents/probe/runs", {"input": "Is the vllm target up?", "thread_id": "probe-1"})
    assert reply.status_code == 200, reply.text
    run = reply.json()
    assert (run["status"], run["stop_reason"], run["tool_calls_count"]) == ("completed", "max_iterations", 1)
    [call] = [s for s in run["steps"] if s["type"] == "tool_calls"][0]["calls"]
    assert call["name"] == "query_prometheus" and isinstance(call["args"]["query"], str)
    result = [s for s in run["steps"] if s["type"] == "tool_result"][0]
    # whatever PromQL the 135M model wrote, it reached Prometheus: a result or Prometheus's own error
    assert result["content"].startswith("[output of query_prometheus") or "Prometheus rejected" in result["content"]
    assert "Partial findings" in run["answer"] or "Nothing was found" in run["answer"]
    again = get(gateway, "/v1/agents/probe/runs/probe-1").json()
    assert again["steps"] == run["steps"] and again["team"] == "ops"
    listed = get(gateway, "/v1/agents/probe/runs").json()["data"]
    assert "probe-1" in [r["thread_id"] for r in listed]
    assert get(gateway, "/v1/agents/probe/runs", key="blue").json()["data"] == []  # another team's run
    assert get(gateway, "/v1/agents/probe/runs/probe-1", key="blue").status_code == 404


def test_a_restart_waits_for_an_approval_in_its_team(stack) -> None:
    gateway, _, tmp = stack
    run = post(gateway, "/v1/agents/restarter/runs", {"input": "vLLM is stuck.", "thread_id": "restart-1"}).json()
    assert run["status"] == "awaiting_approval", run
    assert run["pending_approval"]["calls"][0] == {**run["pending_approval"]["calls"][0], "name": "restart_docker_service",
                                                   "args": {"service_name": "vllm"}}  # the allowlist is an enum
    assert not (tmp / "docker.log").exists()
    assert post(gateway, "/v1/agents/restarter/runs/restart-1/approve", key=None).status_code == 401
    assert post(gateway, "/v1/agents/restarter/runs/restart-1/approve", key="not-a-key").status_code == 401
    assert post(gateway, "/v1/agents/restarter/runs/restart-1/approve").status_code == 403  # its starter: no scope
    assert post(gateway, "/v1/agents/restarter/runs/restart-1/approve", key="blue").status_code == 404  # other team
    assert post(gateway, "/v1/agents/restarter/runs/restart-1/resume").status_code == 409
    assert not (tmp / "docker.log").exists()
    done = post(gateway, "/v1/agents/restarter/runs/restart-1/approve", {"reason": "stuck"}, key="approver")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert (tmp / "docker.log").read_text().split() == ["compose", "-f", str(tmp / "docker-compose.yml"), "restart", "vllm"]
    assert post(gateway, "/v1/agents/restarter/runs/restart-1/approve", key=ADMIN).status_code == 409


def test_streamed_events_and_a_rejection(stack) -> None:
    gateway, _, tmp = stack
    events = []
    with httpx.stream("POST", gateway.url + "/v1/agents/restarter/runs", timeout=300,
                      headers={"Authorization": f"Bearer {KEYS['ops']}"},
                      json={"input": "Restart vLLM", "thread_id": "restart-2", "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: {"):
                events.append(json.loads(line[6:]))
    assert [e["type"] for e in events] == ["started", "tool_calls", "iteration", "approval_required", "run"]
    before = (tmp / "docker.log").read_text() if (tmp / "docker.log").exists() else ""
    done = post(gateway, "/v1/agents/restarter/runs/restart-2/reject", {"reason": "not now"}, key=ADMIN).json()
    assert done["status"] == "completed"
    rejected = [s for s in done["steps"] if s["type"] == "tool_result"][0]
    assert not rejected["ok"] and "not now" in rejected["content"]
    after = (tmp / "docker.log").read_text() if (tmp / "docker.log").exists() else ""
    assert after == before


def test_agent_metrics(stack) -> None:
    gateway, _, _ = stack
    text = httpx.get(gateway.url + "/metrics").text
    assert 'agent_tool_calls_total{result="ok",tool="restart_docker_service"} 1.0' in text
    assert 'agent_tool_calls_total{result="rejected",tool="restart_docker_service"} 1.0' in text
    assert 'agent_runs_total{agent="restarter",outcome="awaiting_approval"} 2.0' in text
    assert 'agent_runs_total{agent="probe",outcome="max_iterations"} 1.0' in text


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("POST", "/v1/agents/nobody/runs", {"input": "hi"}, 404),
    ("POST", "/v1/agents/probe/runs", {"input": ""}, 400),
    ("POST", "/v1/agents/probe/runs", {"input": "hi", "colour": "red"}, 400),
    ("POST", "/v1/agents/probe/runs", {"input": "hi", "thread_id": "bad id!"}, 400),
    ("GET", "/v1/agents/probe/runs/no-such-run", None, 404),
    ("GET", "/v1/agents/runs/no-such-run", None, 404),
    ("POST", "/v1/agents/probe/runs/no-such-run/resume", None, 404),
])
def test_bad_requests_get_openai_shaped_errors(stack, method: str, path: str, body: dict | None, status: int) -> None:
    gateway, _, _ = stack
    reply = httpx.request(method, gateway.url + path, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {KEYS['ops']}"})
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["message"]
    assert httpx.get(gateway.url + "/health").status_code == 200


def test_listing_the_agents(stack) -> None:
    gateway, _, _ = stack
    agents = {a["name"]: a for a in get(gateway, "/v1/agents").json()["data"]}
    assert {"infrastructure", "database", "deployment", "supervisor", "probe", "restarter"} <= set(agents)
    assert agents["supervisor"]["members"] == ["infrastructure", "database", "deployment"]


def cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "aistack"), "agent", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_the_cli_resumes_a_killed_run_without_repeating_completed_calls(tmp_path: Path) -> None:
    record, block = tmp_path / "record.log", tmp_path / "block"
    block.touch()
    (tmp_path / "settings.yaml").write_text(json.dumps({"agents": {"plugins": ["support.agent_plugins"], "definitions": {
        "scribe": {"tools": ["record"], "tool_choice": "required", "max_iterations": 3,
                   "instructions": "Write notes with the record tool."}}}}))
    env = {"AISTACK_PROFILES": "test", "AISTACK_HOME": str(tmp_path / "home"), "AISTACK_SETTINGS_DIR": str(tmp_path),
           "AGENT_RECORD": str(record), "AGENT_BLOCK": str(block),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    running = cli(["run", "scribe", "Write three notes", "--thread", "scribe-1"], env)
    kill_during_call_2(running, record)
    assert record.read_text().splitlines() == ["start 1", "done 1", "start 2"]

    shown = invoke("agent", "show", "scribe-1", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "interrupted"

    block.unlink()
    resumed = cli(["resume", "scribe-1"], env)
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert record.read_text().splitlines() == ["start 1", "done 1", "start 2", "start 2", "done 2", "start 3", "done 3"]
    assert "<- record" in output and "scribe-1: completed (max_iterations)" in output

    again = invoke("agent", "resume", "scribe-1", env=env)
    assert again.returncode == 1 and "has ended" in again.stderr


def test_the_cli_drives_a_gateways_agents(stack) -> None:
    gateway, _, tmp = stack
    env = {"AISTACK_SETTINGS_DIR": str(tmp / "cli"), "AISTACK_CLIENT__URL": gateway.url,
           "AISTACK_CLIENT__API_KEY": KEYS["ops"]}

    def agent(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return invoke("agent", *args, env={**env, **extra})

    started = agent("run", "restarter", "Restart vLLM", "--thread", "restart-cli")
    assert started.returncode == 0, started.stderr
    assert "-> restart_docker_service" in started.stdout and "waits for approval" in started.stdout
    assert "restart-cli: awaiting_approval" in started.stdout
    refused = agent("approve", "restart-cli")
    assert refused.returncode == 1 and "agents:approve" in refused.stderr
    approved = agent("approve", "restart-cli", "--reason", "stuck", AISTACK_CLIENT__ADMIN_KEY=KEYS["approver"])
    assert approved.returncode == 0, approved.stderr
    assert "<- restart_docker_service" in approved.stdout and "restart-cli: completed" in approved.stdout
    shown = json.loads(agent("show", "restart-cli", "--json").stdout)
    assert shown["status"] == "completed" and shown["agent"] == "restarter"
    assert "restart-cli" in agent("runs", "restarter").stdout
    missing = agent("resume", "no-such-thread")
    assert missing.returncode == 1 and "no run with thread id" in missing.stderr


def test_an_agent_reaches_its_model_through_a_gateway(stack, tmp_path: Path) -> None:
    """agents.llm_url: the run is in this process, the model is the gateway's."""
    from aistack.agents.service import AgentService
    from aistack.settings.model import Settings

    gateway, prometheus, _ = stack
    settings = Settings(home=tmp_path, agents={
        "llm_url": gateway.url, "llm_api_key": KEYS["ops"], "model": "smollm2-135m-instruct",
        "prometheus_url": prometheus.url,
        "definitions": {"probe": {"tools": ["query_prometheus"], "tool_choice": "required", "max_iterations": 1}}})
    service = AgentService(settings)
    try:
        run = list(service.start(OPERATOR, "probe", "Is the vllm target up?", "via-gateway"))[-1]
    finally:
        service.close()
    assert (run["status"], run["stop_reason"], run["tool_calls_count"]) == ("completed", "max_iterations", 1)
    assert run["steps"][1]["calls"][0]["name"] == "query_prometheus"


def test_a_hand_off_through_the_api_lands_on_the_bus(stack) -> None:
    import redis

    gateway, _, _ = stack
    sent = post(gateway, "/v1/agents/database/handoffs", {"input": "Vacuum report", "thread_id": "handoff-api-1"})
    assert sent.status_code == 202 and sent.json()["thread_id"] == "handoff-api-1"
    bus = redis.Redis(decode_responses=True)
    try:
        [(_, fields)] = bus.xrange("aistack:handoffs", min=sent.json()["message_id"], max=sent.json()["message_id"])
        sent_data = json.loads(fields["data"])
        assert sent_data.pop("owner")["team"] == "ops"  # the worker runs it as its sender
        assert sent_data == {"agent": "database", "task": "Vacuum report", "thread_id": "handoff-api-1", "from": "api"}
    finally:
        bus.xdel("aistack:handoffs", sent.json()["message_id"])
    assert post(gateway, "/v1/agents/nobody/handoffs", {"input": "x"}).status_code == 404
    assert post(gateway, "/v1/agents/database/handoffs", {"input": ""}).status_code == 400
