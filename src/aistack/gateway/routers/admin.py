"""The deployment API (/v1/admin): slots, deploy, canary, weights, rollback, audit, A/B report.
It needs the `deploy` scope: an admin key (deploy.admin_keys) or a stored key made with it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from aistack.deploy.slots import Slot
from aistack.errors import Conflict
from aistack.gateway.auth import Caller
from aistack.gateway.responses import JSONResponse
from aistack.gateway.body import declares, parse
from aistack.wire import deploy as wire
from aistack.wire.deploy import CanaryBody, DeployBody, SlotDefinition, WeightBody


async def admin_actor(request: Request, caller: Caller) -> str:
    """Who is acting, for the audit trail: the X-Aistack-Actor name if sent, and the key's id."""
    caller.require("deploy")
    name = request.headers.get("x-aistack-actor", "")[:64]
    return f"{name or 'admin'} (key {caller.key_id or caller.name.rpartition(':')[2]})"


router = APIRouter(prefix="/v1/admin", tags=["admin"])
Actor = Depends(admin_actor)


def deployer(request: Request) -> Any:
    container = request.app.state.container
    if container.settings.llm.backend != "slots":
        raise Conflict("deployment needs llm.backend: slots (the gateway routes to slots)")
    return container.deployer


def slot_json(request: Request, slot: Slot) -> dict[str, Any]:
    return {**slot.as_json(), "inflight": deployer(request).inflight(slot.name)}


@router.get("/slots", response_model=wire.SlotList)
async def list_slots(request: Request, _: str = Actor) -> JSONResponse:
    slots = await deployer(request).slots()
    return JSONResponse({"object": "list", "data": [slot_json(request, s) for s in slots]})


@router.put("/slots/{name}", response_model=wire.Slot, openapi_extra=declares(SlotDefinition))
async def define_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, SlotDefinition)
    spec = {"command": body.command, "env": body.env, "compose_file": body.compose_file}
    slot = await deployer(request).define(Slot(name, body.url, body.model, 0.0, "stopped", body.version,
                                               body.runtime, spec), actor)
    return JSONResponse(slot_json(request, slot))


@router.delete("/slots/{name}", response_model=wire.SlotDeleted)
async def delete_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    await deployer(request).delete(name, actor)
    return JSONResponse({"deleted": name})


@router.post("/slots/{name}/deploy", response_model=wire.DeployResult, openapi_extra=declares(DeployBody))
async def deploy_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, DeployBody)
    result = await deployer(request).deploy(name, actor, body.smoke_tests)
    return JSONResponse(result.as_json())


@router.post("/slots/{name}/canary", response_model=wire.DeployResult, openapi_extra=declares(CanaryBody))
async def canary_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, CanaryBody)
    result = await deployer(request).canary(name, body.weight, actor, body.smoke_tests)
    return JSONResponse(result.as_json())


@router.put("/slots/{name}/weight", response_model=wire.Slot, openapi_extra=declares(WeightBody))
async def set_weight(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, WeightBody)
    return JSONResponse(slot_json(request, await deployer(request).set_weight(name, body.weight, actor)))


@router.post("/rollback", response_model=wire.DeployResult)
async def rollback(request: Request, actor: str = Actor) -> JSONResponse:
    return JSONResponse((await deployer(request).rollback(actor)).as_json())


@router.get("/audit", response_model=wire.AuditList)
async def audit(request: Request, limit: int = 50, _: str = Actor) -> JSONResponse:
    return JSONResponse({"object": "list", "data": await deployer(request).audit(min(max(limit, 1), 1000))})


@router.get("/ab-report", response_model=wire.SlotReportList)
async def ab_report(request: Request, _: str = Actor) -> JSONResponse:
    from aistack.deploy.report import slot_report

    deployer(request)
    return JSONResponse({"object": "list", "data": slot_report(request.app.state.container.metrics)})


@router.get("/nginx-config", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def nginx_config(request: Request, _: str = Actor) -> Response:
    """The nginx snippet for the slots serving now."""
    return Response(await deployer(request).nginx_config(), media_type="text/plain")


@router.post("/nginx", response_model=wire.NginxApplied)
async def nginx_apply(request: Request, _: str = Actor) -> JSONResponse:
    """Render, check with nginx -t, reload (the previous file is kept when the check fails)."""
    service = deployer(request)
    return JSONResponse({"applied": await service.apply_nginx(await service.slots())})
