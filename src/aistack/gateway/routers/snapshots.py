"""Snapshots of collections to S3: create (one or all), list, restore, prune (7 daily, 4 weekly)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request

from aistack.gateway.auth import Caller
from aistack.gateway.responses import JSONResponse
from aistack.gateway.body import declares, parse
from aistack.wire import snapshots as wire
from aistack.wire.snapshots import CreateRequest, PruneRequest, RestoreRequest

router = APIRouter(prefix="/v1/snapshots", tags=["snapshots"])


@router.post("", status_code=201, response_model=wire.SnapshotList, openapi_extra=declares(CreateRequest))
async def create(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, CreateRequest)
    service = http.app.state.container.snapshots
    made = await anyio.to_thread.run_sync(
        lambda: [service.create(caller, body.collection)] if body.collection else service.create_all(caller))
    return JSONResponse({"object": "list", "data": [s.as_dict() for s in made]}, status_code=201)


@router.get("", response_model=wire.SnapshotList)
async def list_snapshots(http: Request, caller: Caller, collection: str | None = None) -> JSONResponse:
    found = await anyio.to_thread.run_sync(http.app.state.container.snapshots.list, caller, collection)
    return JSONResponse({"object": "list", "data": [s.as_dict() for s in found]})


@router.post("/restore", response_model=wire.Restored, openapi_extra=declares(RestoreRequest))
async def restore(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, RestoreRequest)
    result = await anyio.to_thread.run_sync(http.app.state.container.snapshots.restore, caller, body.key,
                                            body.collection)
    return JSONResponse(result)


@router.post("/prune", response_model=wire.Pruned, openapi_extra=declares(PruneRequest))
async def prune(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, PruneRequest)
    return JSONResponse(await anyio.to_thread.run_sync(http.app.state.container.snapshots.prune, caller,
                                                       body.dry_run))
