"""Liveness (/health) and readiness (/ready: the backends answer)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from aistack.gateway.responses import JSONResponse

from aistack.errors import AistackError

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 10.0


@router.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    container = request.app.state.container
    try:
        llm = await asyncio.wait_for(container.llm.health(), READY_TIMEOUT_S)
    except (AistackError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, AistackError) else "timed out"
        return JSONResponse({"status": "unavailable", "llm": {"error": reason}}, status_code=503)
    return JSONResponse({"status": "ready", "llm": llm})
