"""Agent tools from a real MCP server the test starts (tests/support/mcp_tickets.py, on the official
SDK's MCPServer), over stdio and over streamable HTTP: the server's schema reaches the model, a
trusted read-only tool runs at once, the server's own error comes back to the model, a tool the
server marks destructive waits for a person's approval and runs only once approved, and a server
that is down stops the run's start with a clear 503. The model is scripted (control flow); the
MCP server and its client are real."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from support.agent_fakes import Scripted, calling
from support.servers import ServerProcess, free_port

from aistack.agents.service import AgentService
from aistack.errors import BackendUnavailable
from aistack.principals import OPERATOR
from aistack.settings.model import Settings

pytestmark = pytest.mark.integration
SERVER = str(Path(__file__).parents[1] / "support" / "mcp_tickets.py")


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    closed = tmp_path_factory.mktemp("tickets-http") / "closed.txt"
    port = free_port()
    with ServerProcess([sys.executable, SERVER, "http", str(port)], port, "/health",
                       env={"TICKETS_CLOSED": str(closed)}) as server:
        yield server, closed


@pytest.fixture(params=["stdio", "http"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    if request.param == "stdio":
        closed = tmp_path / "closed.txt"
        return {"command": [sys.executable, SERVER, "stdio"], "env": {"TICKETS_CLOSED": str(closed)}}, closed
    server, closed = request.getfixturevalue("http_server")
    return {"url": server.url + "/mcp"}, closed


def service(tmp_path: Path, config: dict[str, Any], model: Scripted) -> AgentService:
    settings = Settings(home=tmp_path / "home", agents={"checkpoints": str(tmp_path / "runs.sqlite"), "definitions": {
        "helpdesk": {"instructions": "Use the ticket tools.", "tool_choice": "auto",
                     "mcp_servers": {"tickets": {"trusted": ["lookup_ticket"], "timeout": 20, **config}}}}})
    return AgentService(settings, model=model)


def results(messages: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in messages if isinstance(m, ToolMessage)]


def script(*calls: AIMessage) -> Scripted:
    """Make the calls one a turn, then answer with the last tool result."""
    def respond(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        done = len(results(messages))
        return calls[done] if done < len(calls) else AIMessage(f"Done: {results(messages)[-1]}")
    return Scripted(respond)


def last(events: Any) -> dict[str, Any]:
    return list(events)[-1]


def test_a_trusted_mcp_tool_runs_and_its_errors_reach_the_model(tmp_path: Path, transport) -> None:
    config, _ = transport
    model = script(calling("tickets_lookup_ticket", ticket_id="T-404"),
                   calling("tickets_lookup_ticket", ticket_id="T-100"))
    agents = service(tmp_path, config, model)
    try:
        tools = agents.tools_of("helpdesk")
        assert set(tools) == {"tickets_lookup_ticket", "tickets_close_ticket"}
        spec = tools["tickets_lookup_ticket"].spec()["function"]
        assert spec["parameters"]["required"] == ["ticket_id"] and "support ticket" in spec["description"]
        assert not tools["tickets_lookup_ticket"].destructive and tools["tickets_close_ticket"].destructive
        run = last(agents.start(OPERATOR, "helpdesk", "What does ticket T-100 say?"))
        assert run["status"] == "completed", run
        seen = results(model.seen[-1])
        assert "no ticket T-404" in seen[0]  # the server's own error, given to the model to read
        assert "lighthouse lamp flickers" in seen[1] and "lighthouse lamp flickers" in run["answer"]
    finally:
        agents.close()


def test_a_destructive_mcp_tool_waits_for_approval(tmp_path: Path, transport) -> None:
    config, closed = transport
    model = script(calling("tickets_close_ticket", ticket_id="T-200", note="fixed"))
    agents = service(tmp_path, config, model)
    try:
        waiting = last(agents.start(OPERATOR, "helpdesk", "Close T-200.", "close-t200"))
        assert waiting["status"] == "awaiting_approval"
        assert waiting["pending_approval"]["calls"][0]["name"] == "tickets_close_ticket"
        assert not closed.exists() or "T-200" not in closed.read_text()  # nothing ran before the approval
        done = last(agents.decide(OPERATOR, "close-t200", True, None, "dana"))
        assert done["status"] == "completed" and "closed T-200" in done["answer"]
        assert "T-200 fixed" in closed.read_text()
    finally:
        agents.close()


def test_a_server_that_is_down_is_a_clear_503(tmp_path: Path) -> None:
    agents = service(tmp_path, {"url": f"http://127.0.0.1:{free_port()}/mcp", "timeout": 3}, script())
    try:
        with pytest.raises(BackendUnavailable, match="MCP server 'tickets' did not list its tools"):
            agents.start(OPERATOR, "helpdesk", "hi")
    finally:
        agents.close()
