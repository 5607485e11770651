"""Asynchronous hand-offs: a task published on the Redis Streams bus is run by whichever worker
of the group reads it; a worker that dies leaves it pending, and another one takes it over
(XAUTOCLAIM) and resumes the run from its checkpoint, so no hand-off is lost or run twice: a live
run keeps its message and its thread's lease with a heartbeat (bus.py), so it is never taken over."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

from aistack.agents.bus import Bus, Message
from aistack.agents.service import AgentService, Event
from aistack.errors import AistackError, BackendUnavailable, InvalidRequest
from aistack.principals import Principal

log = logging.getLogger("aistack.agents")
GROUP = "agents"


def open_bus(service: AgentService, consumer: str | None = None, claim_idle: float = 30.0) -> Bus:
    import redis

    config = service.settings.agents
    try:
        return Bus(config.bus_url, config.bus_stream, GROUP, consumer or f"worker-{uuid.uuid4().hex[:8]}",
                   claim_idle=claim_idle)
    except redis.RedisError as exc:
        raise BackendUnavailable(f"the agent bus (agents.bus_url) is unreachable: {exc}") from None


def hand_off(bus: Bus, service: AgentService, caller: Principal, agent: str, task: str, thread_id: str | None = None,
             sender: str = "user") -> dict[str, str]:
    """Publish a task for a worker, which runs it as `caller`; returns the message id and the
    thread the run will have."""
    caller.require("agents:run")
    thread_id = service.new_thread(agent, task, thread_id)
    message_id = bus.publish({"agent": agent, "task": task, "thread_id": thread_id, "from": sender,
                              "owner": caller.as_dict()})
    return {"message_id": message_id, "thread_id": thread_id}


class Worker:
    def __init__(self, service: AgentService, bus: Bus):
        self.service, self.bus = service, bus
        self.results = bus.stream + ":results"

    def handle(self, message: Message) -> Event:
        """Run (or resume) the hand-off's thread, publish the outcome, then acknowledge."""
        data: dict[str, Any] = message.data
        thread = str(data.get("thread_id", ""))
        with self.bus.holding(message, thread) as held:
            if not held:  # a second delivery while another worker runs the thread: that one answers
                log.info("hand-off %s: thread %s is running on another worker", message.id, thread)
                return {"thread_id": thread, "status": "running elsewhere", "message_id": message.id}
            outcome = {**self._run(data, thread), "message_id": message.id}
            self.bus.redis.xadd(self.results, {"data": json.dumps(outcome)})
            self.bus.ack(message)  # before the lease goes: no one can take it over in between
        log.info("hand-off %s: %s", message.id, outcome["status"])
        return outcome

    def _run(self, data: dict[str, Any], thread: str) -> Event:
        try:
            owner = Principal.from_dict(data["owner"]) if isinstance(data.get("owner"), dict) else None
            if owner is None:
                raise InvalidRequest("the hand-off names no owner (published by an older aistack)")
            if not self.service.exists(thread):
                events = self.service.start(owner, str(data.get("agent")), str(data.get("task", "")), thread)
            elif self.service.view(owner, thread)["status"] == "interrupted":
                events = self.service.resume(owner, thread)  # a dead worker's run, taken over
            else:
                events = iter(())  # done already, or waiting for a person: nothing to run
            for _ in events:
                pass
            view = self.service.view(owner, thread)
            return {k: view[k] for k in ("thread_id", "agent", "status", "stop_reason", "answer")}
        except AistackError as exc:  # a bad hand-off is answered, not retried forever
            return {"thread_id": thread, "agent": data.get("agent"), "status": "failed", "error": exc.message}

    def run_once(self, block: float = 1.0) -> list[Event]:
        messages = self.bus.reclaim() or self.bus.read(count=1, block=block)
        return [self.handle(m) for m in messages]

    def serve(self, stop: threading.Event, block: float = 1.0) -> None:
        while not stop.is_set():
            self.run_once(block)
