"""The deployment API (/v1/admin): slots, deploy, canary, weights, rollback, audit, A/B report.
It needs the `deploy` scope: an admin key (deploy.admin_keys) or a stored key made with it."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aistack.deploy.slots import Slot
from aistack.errors import Conflict
from aistack.gateway.auth import Caller
from aistack.gateway.responses import JSONResponse
from aistack.gateway.body import declares, parse
from aistack.settings.deploy import SmokeTest


async def admin_actor(request: Request, caller: Caller) -> str:
    """Who is acting, for the audit trail: the X-Aistack-Actor name if sent, and the key's id."""
    caller.require("deploy")
    name = request.headers.get("x-aistack-actor", "")[:64]
    return f"{name or 'admin'} (key {caller.key_id or caller.name.rpartition(':')[2]})"


router = APIRouter(prefix="/v1/admin", tags=["admin"])
Actor = Depends(admin_actor)


class SlotDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    model: str | None = None
    version: str | None = None
    runtime: Literal["external", "process", "compose"] = "external"
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    compose_file: str | None = None


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    smoke_tests: list[SmokeTest] | None = None


class WeightBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(ge=0)


class CanaryBody(WeightBody):
    smoke_tests: list[SmokeTest] | None = None


def deployer(request: Request) -> Any:
    container = request.app.state.container
    if container.settings.llm.backend != "slots":
        raise Conflict("deployment needs llm.backend: slots (the gateway routes to slots)")
    return container.deployer


def slot_json(request: Request, slot: Slot) -> dict[str, Any]:
    return {**slot.as_json(), "inflight": deployer(request).inflight(slot.name)}


@router.get("/slots")
async def list_slots(request: Request, _: str = Actor) -> JSONResponse:
    slots = await deployer(request).slots()
    return JSONResponse({"object": "list", "data": [slot_json(request, s) for s in slots]})


@router.put("/slots/{name}", openapi_extra=declares(SlotDefinition))
async def define_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, SlotDefinition)
    spec = {"command": body.command, "env": body.env, "compose_file": body.compose_file}
    slot = await deployer(request).define(Slot(name, body.url, body.model, 0.0, "stopped", body.version,
                                               body.runtime, spec), actor)
    return JSONResponse(slot_json(request, slot))


@router.delete("/slots/{name}")
async def delete_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    await deployer(request).delete(name, actor)
    return JSONResponse({"deleted": name})


@router.post("/slots/{name}/deploy", openapi_extra=declares(DeployBody))
async def deploy_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, DeployBody)
    result = await deployer(request).deploy(name, actor, body.smoke_tests)
    return JSONResponse(result.as_json())


@router.post("/slots/{name}/canary", openapi_extra=declares(CanaryBody))
async def canary_slot(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, CanaryBody)
    result = await deployer(request).canary(name, body.weight, actor, body.smoke_tests)
    return JSONResponse(result.as_json())


@router.put("/slots/{name}/weight", openapi_extra=declares(WeightBody))
async def set_weight(name: str, request: Request, actor: str = Actor) -> JSONResponse:
    body = await parse(request, WeightBody)
    return JSONResponse(slot_json(request, await deployer(request).set_weight(name, body.weight, actor)))


@router.post("/rollback")
async def rollback(request: Request, actor: str = Actor) -> JSONResponse:
    return JSONResponse((await deployer(request).rollback(actor)).as_json())


@router.get("/audit")
async def audit(request: Request, limit: int = 50, _: str = Actor) -> JSONResponse:
    return JSONResponse({"object": "list", "data": await deployer(request).audit(min(max(limit, 1), 1000))})


@router.get("/ab-report")
async def ab_report(request: Request, _: str = Actor) -> JSONResponse:
    from aistack.deploy.report import slot_report

    deployer(request)
    return JSONResponse({"object": "list", "data": slot_report(request.app.state.container.metrics)})


@router.get("/nginx-config")
async def nginx_config(request: Request, _: str = Actor) -> Response:
    """The nginx snippet for the slots serving now."""
    return Response(await deployer(request).nginx_config(), media_type="text/plain")


@router.post("/nginx")
async def nginx_apply(request: Request, _: str = Actor) -> JSONResponse:
    """Render, check with nginx -t, reload (the previous file is kept when the check fails)."""
    service = deployer(request)
    return JSONResponse({"applied": await service.apply_nginx(await service.slots())})
