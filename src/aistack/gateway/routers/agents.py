"""Agent runs over HTTP: start (waiting, or streaming events), read, resume, approve or reject.

A run executes in a thread of its own, so a client that disconnects loses nothing: the run
goes on, and GET shows where it is. A run is its starter's (the service checks): approving or
rejecting needs the `agents:approve` scope in the run's team."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from aistack.errors import NotFound
from aistack.principals import Principal
from aistack.gateway.errors import stream_error_event
from aistack.gateway.responses import JSONResponse
from aistack.gateway.auth import Caller
from aistack.gateway.body import declares, parse, read_body
from aistack.gateway.streaming import DONE, EVENT_STREAM, sse
from aistack.wire import agents as wire
from aistack.wire.agents import ContinueRequest, DecisionRequest, HandoffRequest, RunRequest

if TYPE_CHECKING:  # LangGraph and LangChain load with the service, on the first agent request
    from aistack.agents.service import AgentService, Event

router = APIRouter(prefix="/v1/agents", tags=["agents"])


def _service(http: Request) -> AgentService:
    """The agent service: built on first use (it opens the checkpoint store), so called only in
    worker threads, never on the event loop."""
    return http.app.state.container.agents


def _pump(events: Iterator[Event]) -> asyncio.Queue[Event | None]:
    """Run the events in a thread of their own; they arrive on the queue, then None."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def work() -> None:
        try:
            for event in events:
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except Exception as exc:  # noqa: BLE001 - reported as an event; the server stays up
            failed = {"type": "error", "status": getattr(exc, "status", 500), **stream_error_event(exc)}
            loop.call_soon_threadsafe(queue.put_nowait, failed)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=work, daemon=True, name="agent-run").start()
    return queue


async def _respond(make: Callable[[], Iterator[Event]], stream: bool) -> Any:
    events = await anyio.to_thread.run_sync(make)  # unknown agent or run, a conflict: plain HTTP errors
    queue = _pump(events)
    if stream:
        async def body() -> AsyncIterator[bytes]:
            while (event := await queue.get()) is not None:
                yield sse(event)
            yield DONE

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    final: Event | None = None
    while (event := await queue.get()) is not None:
        if event["type"] in ("run", "error"):
            final = event
    if final is None or final["type"] == "error":
        final = final or {"error": {"message": "the run ended without a result", "type": "server_error"}}
        return JSONResponse({"error": final["error"]}, status_code=final.get("status", 500))
    final.pop("type")
    return JSONResponse(final)


def _run_of(http: Request, caller: Principal, name: str, thread_id: str) -> Event:
    view = _service(http).view(caller, thread_id)
    if view["agent"] != name:
        raise NotFound(f"run '{thread_id}' belongs to agent '{view['agent']}', not '{name}'", param="thread_id")
    return view


@router.get("", response_model=wire.AgentList)
async def list_agents(http: Request) -> JSONResponse:
    agents = http.app.state.container.settings.agents.definitions
    return JSONResponse({"object": "list", "data": [
        {"name": name, "description": a.description, "tools": a.tools, "members": a.members}
        for name, a in agents.items()]})


@router.get("/runs/{thread_id}", response_model=wire.Run)
async def find_run(http: Request, caller: Caller, thread_id: str) -> JSONResponse:
    """A run by thread id alone (the CLI resumes and approves by thread id)."""
    return JSONResponse(await anyio.to_thread.run_sync(lambda: _service(http).view(caller, thread_id)))


@router.post("/{name}/runs", response_model=wire.Run, responses=EVENT_STREAM, openapi_extra=declares(RunRequest))
async def start_run(http: Request, caller: Caller, name: str) -> Any:
    body = await parse(http, RunRequest)
    return await _respond(lambda: _service(http).start(caller, name, body.input, body.thread_id), body.stream)


@router.post("/{name}/handoffs", status_code=202, response_model=wire.HandoffAccepted,
             openapi_extra=declares(HandoffRequest))
async def publish_handoff(http: Request, caller: Caller, name: str) -> JSONResponse:
    """Publish the task on the Redis Streams bus; an `aistack agent worker` runs it."""
    from aistack.agents.worker import hand_off, open_bus

    body = await parse(http, HandoffRequest)

    def publish() -> dict[str, str]:
        bus = open_bus(_service(http))
        try:
            return hand_off(bus, _service(http), caller, name, body.input, body.thread_id, sender="api")
        finally:
            bus.close()

    return JSONResponse(await anyio.to_thread.run_sync(publish), status_code=202)


@router.get("/{name}/runs", response_model=wire.RunList)
async def list_runs(http: Request, caller: Caller, name: str) -> JSONResponse:
    def runs() -> list[Event]:
        _service(http).definition(name)
        return _service(http).runs(caller, name)

    return JSONResponse({"object": "list", "data": await anyio.to_thread.run_sync(runs)})


@router.get("/{name}/runs/{thread_id}", response_model=wire.Run)
async def get_run(http: Request, caller: Caller, name: str, thread_id: str) -> JSONResponse:
    return JSONResponse(await anyio.to_thread.run_sync(_run_of, http, caller, name, thread_id))


@router.post("/{name}/runs/{thread_id}/resume", response_model=wire.Run, responses=EVENT_STREAM,
             openapi_extra=declares(ContinueRequest, required=False))
async def resume_run(http: Request, caller: Caller, name: str, thread_id: str) -> Any:
    body = await parse(http, ContinueRequest) if await read_body(http) else ContinueRequest()

    def make() -> Iterator[Event]:
        _run_of(http, caller, name, thread_id)
        return _service(http).resume(caller, thread_id)

    return await _respond(make, body.stream)


async def _decide(http: Request, caller: Principal, name: str, thread_id: str, approved: bool) -> Any:
    body = await parse(http, DecisionRequest) if await read_body(http) else DecisionRequest()
    person = http.headers.get("x-aistack-actor", "")[:64] or None  # the person, as the audit names them

    def make() -> Iterator[Event]:
        run = _service(http).decide(caller, thread_id, approved, body.reason, person)
        _run_of(http, caller, name, thread_id)
        return run

    return await _respond(make, body.stream)


@router.post("/{name}/runs/{thread_id}/approve", response_model=wire.Run, responses=EVENT_STREAM,
             openapi_extra=declares(DecisionRequest, required=False))
async def approve(http: Request, caller: Caller, name: str, thread_id: str) -> Any:
    return await _decide(http, caller, name, thread_id, True)


@router.post("/{name}/runs/{thread_id}/reject", response_model=wire.Run, responses=EVENT_STREAM,
             openapi_extra=declares(DecisionRequest, required=False))
async def reject(http: Request, caller: Caller, name: str, thread_id: str) -> Any:
    return await _decide(http, caller, name, thread_id, False)

