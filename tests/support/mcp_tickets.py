"""A small MCP server for the agent tests, on the official SDK's MCPServer (FastMCP's new name):
`python mcp_tickets.py stdio`, or `python mcp_tickets.py http PORT` (streamable HTTP at /mcp,
with /health for the test's readiness check). Closing a ticket appends it to $TICKETS_CLOSED."""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("tickets")
TICKETS = {"T-100": "The lighthouse lamp flickers after 22:00.", "T-200": "Pier 3's gate sticks in the rain."}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup_ticket(ticket_id: str) -> str:
    """The text of a support ticket, by its id (such as T-100)."""
    if ticket_id not in TICKETS:
        raise ToolError(f"no ticket {ticket_id}")
    return TICKETS[ticket_id]


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def close_ticket(ticket_id: str, note: str = "") -> str:
    """Close a support ticket for good."""
    with open(os.environ["TICKETS_CLOSED"], "a", encoding="utf-8") as closed:
        closed.write(f"{ticket_id} {note}\n")
    return f"closed {ticket_id}"


def serve_http(port: int) -> None:
    import uvicorn
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    app.routes.append(Route("/health", lambda request: PlainTextResponse("ok")))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")  # the app's lifespan runs MCP's sessions


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        serve_http(int(sys.argv[2]))
