"""GET /metrics: the Prometheus exposition of this gateway (no key needed, like /health)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.container.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
