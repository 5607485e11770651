"""aistack as an MCP server (the official `mcp` SDK's MCPServer): its collections, answers, agent
runs and metrics as tools, for any MCP client.

Every tool runs as the caller, under the same rules as the HTTP API: over streamable HTTP the
caller is the gateway key the request carries (checked before MCP sees the request), over stdio
the key `aistack mcp serve` was given (else the machine's operator, as the in-process CLI is).

| tool | scope |
|---|---|
| list_collections, search_collection, ask_collection | rag:read (the team's and shared collections) |
| start_agent_run, read_agent_run | agents:run (a run is its starter's) |
| query_prometheus | deploy |

A tool's error is returned to the client as an error result with aistack's own message; an
unexpected failure says only that the tool failed (the SDK logs the traceback)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from pydantic import Field

from aistack.errors import AistackError
from aistack.principals import Principal
from aistack.wire.knowledge import RetrievalOptions

from mcp.server.mcpserver import Context, MCPServer  # the SDK loads with this module: on first use
from mcp.server.mcpserver.exceptions import ToolError

if TYPE_CHECKING:
    from aistack.agents.service import AgentService
    from aistack.container import Container
    from aistack.knowledge.service import KnowledgeService

log = logging.getLogger("aistack.mcp")
PRINCIPAL = "aistack.principal"  # where the HTTP adapter leaves the caller in the request's scope
USAGE = "aistack.usage"  # the request's log entry: tools that generate add their usage (charged, ledgered)
MAX_QUERY = 2_000


@dataclass(frozen=True)
class McpServices:
    """What the tools reach: built on first use (an MCP session that only lists collections never
    loads the LLM)."""

    knowledge: Callable[[], KnowledgeService]
    agents: Callable[[], AgentService]
    prometheus: Callable[[str], dict[str, Any]]  # a PromQL query's current values (blocking)


class ToolFailed(ToolError):
    """A failure the client is told about, in aistack's words (the SDK's ToolError: any other
    exception reaches the client as only `Error executing tool <name>`, its traceback the log's)."""


def _caller(fixed: Principal | None, ctx: Context) -> Principal:
    if fixed is not None:
        return fixed
    scope = getattr(ctx.request_context.request, "scope", None) or {}
    if PRINCIPAL not in scope:
        raise ToolFailed("no caller: this MCP endpoint needs the gateway's key")
    return scope[PRINCIPAL]


def _log_usage(ctx: Context, model: str | None, usage: dict[str, Any]) -> None:
    """Over HTTP: what a tool's generation used, into the request's log entry, which the gateway
    charges to the key's token limits and budgets and writes to the usage ledger."""
    entry = (getattr(ctx.request_context.request, "scope", None) or {}).get(USAGE)
    if entry is None:
        return
    entry["model"] = model
    for field in ("prompt_tokens", "completion_tokens"):
        entry[field] = (entry.get(field) or 0) + int(usage.get(field) or 0)


def _guarded(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(function)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await function(*args, **kwargs)
        except AistackError as exc:
            if exc.detail:
                log.warning("MCP tool %s: %s (%s)", function.__name__, exc.message, exc.detail)
            raise ToolFailed(exc.message) from None
    return guarded


def _hit(source: dict[str, Any], text: str) -> dict[str, Any]:
    return {"citation": f"[Source: {source.get('filename')}]", **{k: v for k, v in source.items() if v is not None},
            "text": text}


def build_server(services: McpServices, fixed: Principal | None = None) -> MCPServer:
    """The MCP server; `fixed` is the caller of every request (stdio), None to take it from each
    HTTP request."""
    from aistack.knowledge.pipeline import Question
    from aistack.knowledge.retrieve import source_of

    server = MCPServer("aistack", instructions="aistack's documents, agents and metrics. Cite the sources "
                       "search_collection and ask_collection return.")

    @server.tool()
    @_guarded
    async def list_collections(ctx: Context) -> list[dict[str, Any]]:
        """The document collections this key may read, with their sizes."""
        found = await services.knowledge().collections(_caller(fixed, ctx))
        return [{"name": c.name, "points": c.points} for c in found]

    @server.tool()
    @_guarded
    async def search_collection(
            query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY, description="What to look for.")],
            ctx: Context, collection: Annotated[str | None, Field(description="Default: rag.default_collection.")] = None,
            top_k: Annotated[int, Field(ge=1, le=20)] = 5) -> list[dict[str, Any]]:
        """The passages of a collection that best match the query, each with its citation."""
        retrieval = await services.knowledge().retrieve(_caller(fixed, ctx), query,
                                                        RetrievalOptions(collection=collection, top_k=top_k))
        return [_hit(source_of(hit), hit.text) for hit in retrieval.hits]

    @server.tool()
    @_guarded
    async def ask_collection(
            question: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)], ctx: Context,
            collection: Annotated[str | None, Field(description="Default: rag.default_collection.")] = None
    ) -> dict[str, Any]:
        """An answer from a collection's documents, with the sources it cites."""
        answer = await services.knowledge().answer(_caller(fixed, ctx), Question(question),
                                                   RetrievalOptions(collection=collection))
        _log_usage(ctx, answer.get("model"), answer.get("usage") or {})
        message = answer["choices"][0]["message"]
        return {"answer": message.get("content"), "sources": [
            {k: v for k, v in s.items() if k in ("filename", "source", "page", "score")} for s in answer["sources"]]}

    @server.tool()
    @_guarded
    async def start_agent_run(agent: Annotated[str, Field(min_length=1, max_length=64)],
                              task: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)],
                              ctx: Context) -> dict[str, Any]:
        """Run an agent on a task until it ends or waits for a person's approval."""
        caller = _caller(fixed, ctx)
        agents = await anyio.to_thread.run_sync(services.agents)

        def run() -> dict[str, Any]:
            thread_id = f"mcp-{uuid.uuid4().hex[:16]}"
            for _ in agents.start(caller, agent, task, thread_id):
                pass
            return agents.view(caller, thread_id)

        return await anyio.to_thread.run_sync(run)

    @server.tool()
    @_guarded
    async def read_agent_run(thread_id: Annotated[str, Field(min_length=1, max_length=128)],
                             ctx: Context) -> dict[str, Any]:
        """Where an agent run stands: its status, answer, or the approval it waits for."""
        caller = _caller(fixed, ctx)
        agents = await anyio.to_thread.run_sync(services.agents)
        return await anyio.to_thread.run_sync(agents.view, caller, thread_id)

    @server.tool()
    @_guarded
    async def query_prometheus(query: Annotated[str, Field(min_length=1, max_length=300,
                                                           description="A PromQL expression, such as up")],
                               ctx: Context) -> dict[str, Any]:
        """The current values of a PromQL expression from the monitoring stack."""
        _caller(fixed, ctx).require("deploy")
        return await anyio.to_thread.run_sync(services.prometheus, query)

    return server


def services_of(container: Container) -> McpServices:
    """The tools' services from the composition root (the gateway's, or the CLI's in process)."""

    def prometheus(query: str) -> dict[str, Any]:
        from aistack.agents.builtin import query_prometheus
        from aistack.agents.tools import ToolContext, ToolError

        try:
            return query_prometheus(query, ToolContext(container.settings))
        except ToolError as exc:
            raise ToolFailed(str(exc)) from None

    return McpServices(lambda: container.knowledge, lambda: container.agents, prometheus)
