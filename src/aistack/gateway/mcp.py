"""`/mcp`: aistack's MCP server over streamable HTTP, on the gateway, with the gateway's keys.

The key is checked before MCP sees the request (401 in OpenAI's shape otherwise), then the key's
rate limits, token limits and budgets, as on /v1 (429). The principal rides in the request's scope
to the tools (aistack/mcp/server.py), which check scopes
and ownership as the HTTP API does. The endpoint is stateless (every POST stands alone), so any
gateway behind nginx can answer it. The MCP SDK loads, in a worker thread, on the first request:
a gateway nobody asks over MCP never imports it. The Host check of the SDK is off: the key is
the guard, and behind nginx the Host is the proxy's."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import anyio

from aistack.errors import AistackError, BackendUnavailable
from aistack.gateway.auth import principal_of
from aistack.gateway.errors import error_response
from aistack.gateway.middleware import request_log

if TYPE_CHECKING:
    from aistack.container import Container
    from aistack.gateway.guards import Quota

PATH = "/mcp"


class McpEndpoint:
    """An ASGI endpoint: authenticate, start the MCP app once, hand the request over."""

    def __init__(self, container: Container, quota: Quota):
        self.container = container
        self.quota = quota  # /v1's rate limits, token limits and budgets, per key
        self._app: Any = None
        self._starting = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            principal = await principal_of(self.container.access, scope)
            entry = request_log(scope)
            entry.update(principal=principal.name, team=principal.team, key_id=principal.key_id)
            await self.quota.admit(principal, scope)  # the middleware charges the usage the tools log
            app = await self._started()
        except AistackError as exc:
            await error_response(exc)(scope, receive, send)
            return
        from aistack.mcp.server import PRINCIPAL, USAGE

        await app({**scope, PRINCIPAL: principal, USAGE: entry}, receive, send)

    async def _started(self) -> Any:
        async with self._starting:
            if self._app is None:
                self._app = await anyio.to_thread.run_sync(self._build)
                manager = self._server.session_manager
                ready = asyncio.Event()
                self._task = asyncio.create_task(self._serve(manager, ready))
                await ready.wait()
        return self._app

    def _build(self) -> Any:
        try:
            from mcp.server.transport_security import TransportSecuritySettings

            from aistack.mcp.server import build_server, services_of
        except ImportError:
            raise BackendUnavailable("MCP is not installed on this gateway: pip install 'aistack[mcp]'") from None
        self._server = build_server(services_of(self.container))
        return self._server.streamable_http_app(
            streamable_http_path=PATH, stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))

    async def _serve(self, manager: Any, ready: asyncio.Event) -> None:
        async with manager.run():
            ready.set()
            await self._stop.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._stop.set()
            await self._task
