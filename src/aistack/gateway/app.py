"""The gateway's app factory: create_app(container) -> FastAPI."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI

import aistack
from aistack.console import router as console_router
from aistack.container import Container
from aistack.gateway.auth import authenticate
from aistack.gateway.errors import ERROR_RESPONSES, install_error_handlers
from aistack.gateway.mcp import PATH as MCP_PATH
from aistack.gateway.mcp import McpEndpoint
from aistack.gateway.middleware import GatewayMiddleware
from aistack.gateway.guards import Quota, StickyKey
from aistack.gateway.routers import (
    access,
    admin,
    agents,
    embeddings,
    health,
    metrics,
    openai,
    rag,
    responses,
    snapshots,
)
from aistack.gateway.slowloop import StallWatch
from aistack.llm.instrumented import watch_health


def quiet_collector(threshold: list[int]) -> None:
    """Move everything start-up made (models, settings, routes) out of the collector's sight, and
    collect the young generation less often: at 16 clients the p99 was the collector's pauses."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*threshold)


def build_routes(app: FastAPI) -> None:
    """What FastAPI would do on the event loop at the first request to each router (its routes'
    dependencies and response fields: about 0.1 s) and to /openapi.json (as long again): the
    slow-callback sweep found both holding the loop. Run once, in a worker thread, before serving."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)  # an included router, built lazily
        if contexts is not None:
            list(contexts())
    app.openapi()


def create_app(container: Container) -> FastAPI:
    settings = container.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.start()
        await anyio.to_thread.run_sync(build_routes, app)  # also loads anyio's thread backend, once
        if settings.access.usage_ledger:
            container.ledger.start()
        if settings.server.gc_threshold:
            quiet_collector(settings.server.gc_threshold)
        stalls = StallWatch(settings.server.slow_callback_ms) if settings.server.slow_callback_ms else None
        if stalls is not None:  # from here on, the loop serves requests
            stalls.start()
        watcher = asyncio.create_task(watch_health(container.llm, settings.observability.health_interval))
        try:
            yield
        finally:
            watcher.cancel()
            if stalls is not None:
                stalls.stop()
            await mcp.close()
            await container.close()

    app = FastAPI(title="aistack gateway", version=aistack.__version__, lifespan=lifespan)
    app.state.container = container
    app.include_router(health.router)
    if settings.server.console:
        app.include_router(console_router)  # the page itself holds no data: every call it makes needs the key
    if settings.observability.metrics:
        app.include_router(metrics.router)
    quota = Quota(container.quotas, container.metrics)
    guards = [Depends(authenticate), Depends(quota)]  # the caller, its quotas
    if settings.llm.backend == "slots":
        guards.append(Depends(StickyKey(settings.deploy.sticky_header)))
    app.include_router(admin.router, responses=ERROR_RESPONSES)
    mcp = McpEndpoint(container, quota)
    if settings.server.mcp:  # its key check is its own: MCP clients send the gateway's key
        app.add_route(MCP_PATH, mcp, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    for router in (openai.router, responses.router, embeddings.router, rag.router, snapshots.router, agents.router, access.router):
        app.include_router(router, dependencies=guards, responses=ERROR_RESPONSES)
    install_error_handlers(app)
    app.add_middleware(GatewayMiddleware, max_body_bytes=settings.server.max_body_bytes,
                       max_upload_bytes=settings.ingest.max_upload_bytes,
                       on_done=container.ledger.record if settings.access.usage_ledger else None)
    return app
