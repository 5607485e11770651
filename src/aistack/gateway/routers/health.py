"""Liveness (/health) and readiness (/ready: the backends answer)."""

from __future__ import annotations

import asyncio
import logging

import anyio
from fastapi import APIRouter, Request

from aistack.errors import AistackError
from aistack.gateway.responses import JSONResponse
from aistack.wire.health import Health, Ready

log = logging.getLogger("aistack")
router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 10.0


@router.get("/health", response_model=Health)
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
async def ready(request: Request) -> JSONResponse:
    container = request.app.state.container
    try:
        llm = await asyncio.wait_for(container.llm.health(), READY_TIMEOUT_S)
    except (AistackError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, AistackError) else "timed out"
        return JSONResponse({"status": "unavailable", "llm": {"error": reason}}, status_code=503)
    backend = container.settings.vectorstore.backend
    try:
        store = await anyio.to_thread.run_sync(lambda: container.store)
        await asyncio.wait_for(anyio.to_thread.run_sync(store.ping), READY_TIMEOUT_S)
    except Exception as exc:  # any client error means the store cannot serve; its address stays in the log
        log.warning("vector store not ready: %s", exc)
        reason = exc.message if isinstance(exc, AistackError) else f"unreachable ({type(exc).__name__})"
        return JSONResponse({"status": "unavailable", "llm": llm,
                             "vectorstore": {"backend": backend, "error": reason}}, status_code=503)
    return JSONResponse({"status": "ready", "llm": llm, "vectorstore": {"backend": store.name}})
