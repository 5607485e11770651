"""Asynchronous hand-offs on the real Redis with the embedded model: a worker is SIGKILLed in the
middle of a hand-off's run; a second worker takes the unacknowledged message over (XAUTOCLAIM),
resumes the run from its checkpoint without repeating the completed tool call, publishes the
outcome and acknowledges. A hand-off naming no known agent is answered, not retried forever."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from support.agent_plugins import kill_during_call_2
from support.servers import BIN

from aistack.principals import OPERATOR
from aistack.agents.bus import Bus

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REDIS = "redis://127.0.0.1:6379/0"
TESTS = Path(__file__).resolve().parent.parent


def test_a_dead_workers_hand_off_is_taken_over_and_finished(tmp_path: Path) -> None:
    stream = f"aistack-test:handoffs:{uuid.uuid4().hex}"
    record, block = tmp_path / "record.log", tmp_path / "block"
    block.touch()
    (tmp_path / "settings.yaml").write_text(json.dumps({"agents": {
        "plugins": ["support.agent_plugins"], "bus_url": REDIS, "bus_stream": stream, "definitions": {
            "scribe": {"tools": ["record"], "tool_choice": "required", "max_iterations": 3}}}}))
    env = {**os.environ, "AISTACK_PROFILES": "test", "AISTACK_HOME": str(tmp_path / "home"),
           "AISTACK_SETTINGS_DIR": str(tmp_path), "AGENT_RECORD": str(record), "AGENT_BLOCK": str(block),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}

    def agent(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "aistack"), "agent", *args], env=env, capture_output=True, text=True,
                              timeout=300, **kwargs)

    sent = agent("handoff", "scribe", "Write three notes", "--thread", "w-1", "--json")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["thread_id"] == "w-1"
    bad = Bus(REDIS, stream, "agents", "test")
    bad.publish({"agent": "nobody", "task": "x", "thread_id": "w-bad", "owner": OPERATOR.as_dict()})
    bad.publish({"agent": "scribe", "task": "x", "thread_id": "w-anon"})  # no owner: whose permissions?

    first = subprocess.Popen([str(BIN / "aistack"), "agent", "worker", "--consumer", "a", "--claim-idle", "1"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kill_during_call_2(first, record)
    assert bad.pending() == 1  # the killed run's message: delivered, never acknowledged
    block.unlink()
    time.sleep(1.5)  # idle longer than --claim-idle

    second = agent("worker", "--consumer", "b", "--claim-idle", "1", "--once")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "w-1: completed" in second.stdout and "w-bad: failed" in second.stdout
    assert record.read_text().splitlines() == ["start 1", "done 1", "start 2", "start 2", "done 2", "start 3", "done 3"]
    results = [json.loads(fields["data"]) for _, fields in bad.redis.xrange(stream + ":results")]
    by_thread = {r["thread_id"]: r for r in results}
    assert by_thread["w-1"]["status"] == "completed" and by_thread["w-1"]["stop_reason"] == "max_iterations"
    assert "no agent 'nobody'" in by_thread["w-bad"]["error"]
    assert by_thread["w-anon"]["status"] == "failed" and "names no owner" in by_thread["w-anon"]["error"]
    assert bad.pending() == 0
    bad.redis.delete(stream, stream + ":results", stream + ":dead")
    bad.close()


def test_a_supervisor_hands_off_on_the_bus_and_a_worker_runs_it(tmp_path: Path) -> None:
    from support.agent_fakes import Scripted, calling, turn
    from langchain_core.messages import AIMessage

    from aistack.agents.service import AgentService
    from aistack.agents.worker import Worker, open_bus
    from aistack.settings.model import Settings

    stream = f"aistack-test:handoffs:{uuid.uuid4().hex}"

    def respond(messages, tools):
        if "hand_off_database" in tools:
            return calling("hand_off_database", task="Vacuum report") if turn(messages) == 0 else AIMessage("Queued.")
        return AIMessage("The database is fine.")

    settings = Settings(home=tmp_path / "home", agents={"bus_url": REDIS, "bus_stream": stream, "definitions": {
        "supervisor": {"hand_off": True}}})
    service = AgentService(settings, model=Scripted(respond))
    try:
        run = list(service.start(OPERATOR, "supervisor", "Check the database later", "sup-1"))[-1]
        assert run["answer"] == "Queued."
        handed = [s for s in run["steps"] if s["type"] == "tool_result"][0]["content"]
        member = handed.split(" as run ")[1].split(";")[0]
        assert member.startswith("sup-1.database.call_") and not service.exists(member)
        bus = open_bus(service, "w")
        [outcome] = Worker(service, bus).run_once(block=1)
        assert (outcome["thread_id"], outcome["status"], outcome["answer"]) == (member, "completed", "The database is fine.")
        assert bus.pending() == 0
        bus.redis.delete(stream, stream + ":results")
        bus.close()
    finally:
        service.close()


def test_a_live_workers_long_hand_off_is_never_taken_over(tmp_path: Path) -> None:
    """A run that takes longer than claim_idle (3 s against 1): a second worker polling all the
    while neither takes the message over nor resumes the thread (it used to run it a second time,
    concurrently); the first finishes, answers and acknowledges."""
    import threading

    from support.agent_fakes import Scripted, calling, turn
    from langchain_core.messages import AIMessage

    from aistack.agents.service import AgentService
    from aistack.agents.tools import tool
    from aistack.agents.worker import Worker, hand_off, open_bus
    from aistack.settings.model import Settings

    runs: list[str] = []

    @tool(timeout=30, repeatable=True)
    def slow_report(topic: str) -> str:
        """Write a slow report."""
        runs.append(topic)
        time.sleep(3)
        return f"report on {topic}"

    stream = f"aistack-test:handoffs:{uuid.uuid4().hex}"
    respond = lambda messages, tools: calling("slow_report", topic="gpus") if turn(messages) == 0 else AIMessage("Done.")  # noqa: E731
    settings = Settings(home=tmp_path / "home", agents={"bus_url": REDIS, "bus_stream": stream, "definitions": {
        "reporter": {"tools": ["slow_report"]}}})
    service = AgentService(settings, model=Scripted(respond))
    first, second = open_bus(service, "a", claim_idle=1), open_bus(service, "b", claim_idle=1)
    try:
        sent = hand_off(first, service, OPERATOR, "reporter", "Report on the GPUs", "long-1")
        [message] = first.read(block=1)  # the first worker has it before the second starts polling
        outcomes: list[dict] = []
        running = threading.Thread(target=lambda: outcomes.append(Worker(service, first).handle(message)))
        running.start()
        taken: list[dict] = []
        while running.is_alive():
            taken += [o for o in Worker(service, second).run_once(block=0.2) if o["status"] != "running elsewhere"]
        running.join()
        assert runs == ["gpus"] and taken == []  # run once, by the first worker only
        assert [(o["thread_id"], o["status"]) for o in outcomes] == [(sent["thread_id"], "completed")]
        assert first.pending() == 0
    finally:
        first.redis.delete(stream, stream + ":results")
        first.close()
        second.close()
        service.close()
