"""Agent runs for the CLI: in this process (the LLM on a background event loop), or through a
running gateway's /v1/agents API. Both yield the same events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import httpx

from aistack.agents.service import Event
from aistack.client.http import Gateway
from aistack.client.local import Local
from aistack.container import Container


class AgentRuns(Protocol):
    def agents(self) -> list[dict[str, Any]]: ...
    def start(self, name: str, task: str, thread_id: str | None) -> Iterator[Event]: ...
    def resume(self, thread_id: str) -> Iterator[Event]: ...
    def decide(self, thread_id: str, approved: bool, reason: str | None) -> Iterator[Event]: ...
    def view(self, thread_id: str) -> Event: ...
    def runs(self, name: str | None) -> list[Event]: ...
    def close(self) -> None: ...


class LocalRuns(Local):
    """Runs in this process: the LLM lives on the portal's loop, the graph calls into it."""

    def __init__(self, container: Container, actor: str):
        super().__init__(container)
        self.actor = actor
        container.portal = self.portal
        self.service = container.agents  # checkpoints open, tools known: bad settings fail before the model loads
        self._started = False

    def ready(self) -> Any:
        """The service, with the LLM started (loaded once, on first need)."""
        if not self._started:
            self.portal.call(self.container.start_llm())
            self._started = True
        return self.service

    def agents(self) -> list[dict[str, Any]]:
        return [{"name": n, "description": a.description, "tools": a.tools, "members": a.members}
                for n, a in self.service.definitions().items()]

    def start(self, name: str, task: str, thread_id: str | None) -> Iterator[Event]:
        self.service.definition(name)
        return self.ready().start(self.caller, name, task, thread_id)

    def resume(self, thread_id: str) -> Iterator[Event]:
        self.service.view(self.caller, thread_id)
        return self.ready().resume(self.caller, thread_id)

    def decide(self, thread_id: str, approved: bool, reason: str | None) -> Iterator[Event]:
        self.service.view(self.caller, thread_id)
        return self.ready().decide(self.caller, thread_id, approved, reason, self.actor)

    def view(self, thread_id: str) -> Event:
        return self.service.view(self.caller, thread_id)

    def runs(self, name: str | None) -> list[Event]:
        return self.service.runs(self.caller, name)



class RemoteRuns(Gateway):
    def __init__(self, url: str, api_key: str | None, admin_key: str | None, actor: str):
        super().__init__(url, api_key, httpx.Timeout(30, read=None))
        self.api_key, self.admin_key, self.actor = api_key, admin_key, actor

    def _get(self, path: str) -> Any:
        return self.call("GET", path)

    def agents(self) -> list[dict[str, Any]]:
        return self._get("/v1/agents")["data"]

    def start(self, name: str, task: str, thread_id: str | None) -> Iterator[Event]:
        body = {"input": task, "stream": True, **({"thread_id": thread_id} if thread_id else {})}
        return self.events(f"/v1/agents/{name}/runs", body)

    def resume(self, thread_id: str) -> Iterator[Event]:
        agent = self.view(thread_id)["agent"]
        return self.events(f"/v1/agents/{agent}/runs/{thread_id}/resume", {"stream": True})

    def decide(self, thread_id: str, approved: bool, reason: str | None) -> Iterator[Event]:
        """With the admin key if one is set, else the user's own (which needs `agents:approve`)."""
        agent = self.view(thread_id)["agent"]
        admin = Gateway(self.url, self.admin_key or self.api_key, httpx.Timeout(30, read=None),
                        {"X-Aistack-Actor": self.actor})
        verb = "approve" if approved else "reject"
        return admin.events(f"/v1/agents/{agent}/runs/{thread_id}/{verb}", {"stream": True, "reason": reason})

    def view(self, thread_id: str) -> Event:
        return self._get(f"/v1/agents/runs/{thread_id}")

    def runs(self, name: str | None) -> list[Event]:
        if name:
            return self._get(f"/v1/agents/{name}/runs")["data"]
        return [run for agent in self.agents() for run in self._get(f"/v1/agents/{agent['name']}/runs")["data"]]

