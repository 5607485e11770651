"""Agent checkpoints in the real PostgreSQL (production) and SQLite (default): a run paused for
approval, or crashed mid-way, in one service is finished by a new one, as after a restart.
The model is scripted here (control flow); test_agents_e2e drives the real one."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.agent_fakes import Scripted, calling, turn
from langchain_core.messages import AIMessage, BaseMessage

from aistack.principals import OPERATOR
from aistack.agents.service import AgentService
from aistack.agents.tools import make_tool
from aistack.settings.model import Settings

pytestmark = pytest.mark.integration
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


class Crash(BaseException):
    pass


@pytest.fixture(params=["postgres", "sqlite"])
def new_service(request: pytest.FixtureRequest, tmp_path: Path):
    script, log = tmp_path / "docker", tmp_path / "docker.log"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    target = POSTGRES if request.param == "postgres" else str(tmp_path / "runs.sqlite")
    calls = {"echo": 0}
    made: list[AgentService] = []

    def echo(text: str) -> str:
        """Say it back."""
        calls["echo"] += 1
        return text

    def build(model: Scripted) -> AgentService:
        settings = Settings(home=tmp_path / "home", agents={
            "checkpoints": target,
            "docker": {"command": [str(script), "compose"], "allowed_services": ["vllm"]},
            "definitions": {"ops": {"tools": ["echo", "restart_docker_service"]}}})
        service = AgentService(settings, model=model)
        service.tools["echo"] = make_tool(echo)
        made.append(service)
        return service

    build.calls, build.log, build.kind = calls, log, request.param
    yield build
    for service in made:
        service.close()


def last(events: Any) -> dict[str, Any]:
    return list(events)[-1]


def test_an_approval_outlives_the_service_that_asked_for_it(new_service) -> None:
    thread = f"ops-{uuid.uuid4().hex[:8]}"
    script = Scripted(lambda m, t: calling("restart_docker_service", service_name="vllm") if turn(m) == 0
                      else AIMessage("restarted"))
    first = new_service(script)
    assert last(first.start(OPERATOR, "ops", "restart vllm", thread))["status"] == "awaiting_approval"
    first.close()
    second = new_service(script)
    assert second.view(OPERATOR, thread)["status"] == "awaiting_approval"
    run = last(second.decide(OPERATOR, thread, True, None, "dana"))
    assert (run["status"], run["answer"]) == ("completed", "restarted")
    assert new_service.log.read_text().count("restart vllm") == 1
    if new_service.kind == "postgres":
        assert second.checkpoints.where == "127.0.0.1:5432/test"


def test_a_crashed_run_is_resumed_by_a_new_service(new_service) -> None:
    thread = f"ops-{uuid.uuid4().hex[:8]}"

    def crashing(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        if turn(messages) == 0:
            return calling("echo", text="pve1: 93% memory")
        raise Crash()

    with pytest.raises(Crash):
        list(new_service(Scripted(crashing)).start(OPERATOR, "ops", "memory?", thread))
    resumed = new_service(Scripted(lambda m, t: AIMessage(f"seen {turn(m)} result(s)")))
    assert resumed.view(OPERATOR, thread)["status"] == "interrupted"
    run = last(resumed.resume(OPERATOR, thread))
    assert (run["status"], run["answer"]) == ("completed", "seen 1 result(s)")
    assert new_service.calls["echo"] == 1
