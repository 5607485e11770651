"""Agent runs for the CLI: in this process (the LLM on a background event loop), or through a
running gateway's /v1/agents API. Both yield the same events."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, Protocol

import httpx

from aistack.agents.service import Event
from aistack.client import ClientError, check_response, sse_chunks
from aistack.container import Container


class AgentRuns(Protocol):
    def agents(self) -> list[dict[str, Any]]: ...
    def start(self, name: str, task: str, thread_id: str | None) -> Iterator[Event]: ...
    def resume(self, thread_id: str) -> Iterator[Event]: ...
    def decide(self, thread_id: str, approved: bool, reason: str | None) -> Iterator[Event]: ...
    def view(self, thread_id: str) -> Event: ...
    def runs(self, name: str | None) -> list[Event]: ...
    def close(self) -> None: ...


class BackgroundLoop:
    """An event loop in a daemon thread: the LLM backend lives on it, the graph calls into it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="aistack-loop")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class LocalRuns:
    def __init__(self, container: Container, actor: str):
        self.container, self.actor = container, actor
        self.background = BackgroundLoop()
        self.service = container.agents  # checkpoints open, tools known: bad settings fail before the model loads
        self._started = False

    def ready(self) -> Any:
        """The service, with the LLM started (loaded once, on first need)."""
        if not self._started:
            self.background.run(self.container.start_llm())
            self._started = True
        return self.service

    def agents(self) -> list[dict[str, Any]]:
        return [{"name": n, "description": a.description, "tools": a.tools, "members": a.members}
                for n, a in self.service.definitions().items()]

    def start(self, name: str, task: str, thread_id: str | None) -> Iterator[Event]:
        self.service.definition(name)
        return self.ready().start(name, task, thread_id)

    def resume(self, thread_id: str) -> Iterator[Event]:
        self.service.view(thread_id)
        return self.ready().resume(thread_id)

    def decide(self, thread_id: str, approved: bool, reason: str | None) -> Iterator[Event]:
        self.service.view(thread_id)
        return self.ready().decide(thread_id, approved, self.actor, reason)

    def view(self, thread_id: str) -> Event:
        return self.service.view(thread_id)

    def runs(self, name: str | None) -> list[Event]:
        return self.service.runs(name)

    def close(self) -> None:
        if self._started:
            self.background.run(self.container.close())
        else:
            self.service.close()
        self.background.close()


class RemoteRuns:
    def __init__(self, url: str, api_key: str | None, admin_key: str | None, actor: str):
        self.url = url.rstrip("/")
        self.admin_key, self.actor = admin_key, actor
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(30, read=None))

    def _get(self, path: str) -> Any:
        try:
            response = self.http.get(path)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the gateway at {self.url}: {exc}") from None
        check_response(self.url, response)
        return response.json()

    def agents(self) -> list[dict[str, Any]]:
        return self._get("/v1/agents")["data"]

    def start(self, name: str, task: str, thread_id: str | None) -> Iterator[Event]:
        body = {"input": task, "stream": True, **({"thread_id": thread_id} if thread_id else {})}
        return sse_chunks(self.http, self.url, f"/v1/agents/{name}/runs", body)

    def resume(self, thread_id: str) -> Iterator[Event]:
        agent = self.view(thread_id)["agent"]
        return sse_chunks(self.http, self.url, f"/v1/agents/{agent}/runs/{thread_id}/resume", {"stream": True})

    def decide(self, thread_id: str, approved: bool, reason: str | None) -> Iterator[Event]:
        if not self.admin_key:
            raise ClientError("approving needs an admin key: set client.admin_key to one of deploy.admin_keys")
        agent = self.view(thread_id)["agent"]
        admin = httpx.Client(base_url=self.url, timeout=httpx.Timeout(30, read=None),
                             headers={"Authorization": f"Bearer {self.admin_key}", "X-Aistack-Actor": self.actor})
        verb = "approve" if approved else "reject"
        return sse_chunks(admin, self.url, f"/v1/agents/{agent}/runs/{thread_id}/{verb}",
                          {"stream": True, "reason": reason})

    def view(self, thread_id: str) -> Event:
        return self._get(f"/v1/agents/runs/{thread_id}")

    def runs(self, name: str | None) -> list[Event]:
        if name:
            return self._get(f"/v1/agents/{name}/runs")["data"]
        return [run for agent in self.agents() for run in self._get(f"/v1/agents/{agent['name']}/runs")["data"]]

    def close(self) -> None:
        self.http.close()
