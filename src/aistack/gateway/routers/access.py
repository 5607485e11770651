"""Teams, users and keys (/v1/admin/teams|users|keys: the `admin` scope), who the caller is
(/v1/me), and collection shares (/v1/collections/{name}/shares: `rag:write` in the owning team).
The access service checks every rule; these routes only parse and shape."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from aistack.access.service import AccessService
from aistack.principals import Limits
from aistack.gateway.auth import Caller
from aistack.gateway.body import declares, parse
from aistack.gateway.responses import JSONResponse

router = APIRouter(prefix="/v1", tags=["access"])


class LimitsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    token_budget: int | None = Field(None, gt=0, description="Tokens per budget period; past it, 429 insufficient_quota.")
    budget_period: Literal["day", "month"] | None = None

    def limits(self) -> Limits:
        return Limits(self.requests_per_minute, self.tokens_per_minute, self.token_budget, self.budget_period)


class TeamBody(LimitsBody):
    name: str = Field(min_length=1, max_length=32)
    models: list[str] | None = Field(None, description="The only models the team's keys may use. Empty: any.")


class TeamUpdate(LimitsBody):
    models: list[str] | None = None


class UserBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    team: str


class KeyBody(LimitsBody):
    team: str | None = None
    user: str | None = None
    name: str | None = Field(None, max_length=128, description="A label for tables and logs.")
    scopes: list[str] | None = Field(None, description="Default: chat, embeddings, rag:read, rag:write, agents:run, "
                                     "snapshots.")
    models: list[str] | None = None
    expires_in_days: float | None = Field(None, gt=0)


class ShareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: str = Field(description="The team the collection is shared with.")
    access: Literal["read", "write"] = "read"


def _access(http: Request) -> AccessService:
    return http.app.state.container.access


async def _off_loop(call: Any, *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: call(*args, **kwargs))  # the store is a database


@router.get("/me")
async def me(caller: Caller) -> JSONResponse:
    """Who this key is: its name, team, scopes and models."""
    return JSONResponse({"object": "principal", **caller.as_dict(), "anonymous": caller.anonymous})


@router.get("/usage")
async def usage(http: Request, caller: Caller, since: str | None = None, until: str | None = None,
                team: str | None = None, key: str | None = None, model: str | None = None,
                by: Literal["hour", "day", "month", "team", "key", "model"] = "day") -> JSONResponse:
    """Requests and tokens from the usage ledger's hourly rollups (`admin`): `since` is 7d, 24h or
    an ISO date (default: 30 days)."""
    found = await _off_loop(_access(http).usage, caller, since, until, team, key, model, by)
    return JSONResponse({"object": "list", "by": by, "data": found})


@router.get("/admin/teams")
async def list_teams(http: Request, caller: Caller) -> JSONResponse:
    found = await _off_loop(_access(http).teams, caller)
    return JSONResponse({"object": "list", "data": [t.as_json() for t in found]})


@router.post("/admin/teams", status_code=201, openapi_extra=declares(TeamBody))
async def create_team(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, TeamBody)
    made = await _off_loop(_access(http).create_team, caller, body.name, body.models, body.limits())
    return JSONResponse(made.as_json(), status_code=201)


@router.patch("/admin/teams/{name}", openapi_extra=declares(TeamUpdate))
async def update_team(name: str, http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, TeamUpdate)
    return JSONResponse((await _off_loop(_access(http).update_team, caller, name, body.models, body.limits())).as_json())


@router.delete("/admin/teams/{name}")
async def delete_team(name: str, http: Request, caller: Caller) -> JSONResponse:
    await _off_loop(_access(http).delete_team, caller, name)
    return JSONResponse({"object": "team.deleted", "name": name, "deleted": True})


@router.get("/admin/users")
async def list_users(http: Request, caller: Caller, team: str | None = None) -> JSONResponse:
    found = await _off_loop(_access(http).users, caller, team)
    return JSONResponse({"object": "list", "data": [u.as_json() for u in found]})


@router.post("/admin/users", status_code=201, openapi_extra=declares(UserBody))
async def create_user(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, UserBody)
    made = await _off_loop(_access(http).create_user, caller, body.name, body.team)
    return JSONResponse(made.as_json(), status_code=201)


@router.get("/admin/keys")
async def list_keys(http: Request, caller: Caller, team: str | None = None) -> JSONResponse:
    found = await _off_loop(_access(http).keys, caller, team)
    return JSONResponse({"object": "list", "data": [k.as_json() for k in found]})


@router.post("/admin/keys", status_code=201, openapi_extra=declares(KeyBody))
async def create_key(http: Request, caller: Caller) -> JSONResponse:
    """The key itself is in `secret`, this once: it is stored only as a hash."""
    body = await parse(http, KeyBody)
    issued = await _off_loop(_access(http).create_key, caller, body.team, body.user, body.name, body.scopes,
                             body.models, body.expires_in_days, body.limits())
    return JSONResponse({**issued.key.as_json(), "secret": issued.secret}, status_code=201)


@router.post("/admin/keys/{key_id}/rotate", status_code=201)
async def rotate_key(key_id: str, http: Request, caller: Caller) -> JSONResponse:
    issued = await _off_loop(_access(http).rotate_key, caller, key_id)
    return JSONResponse({**issued.key.as_json(), "secret": issued.secret}, status_code=201)


@router.post("/admin/keys/{key_id}/revoke")
async def revoke_key(key_id: str, http: Request, caller: Caller) -> JSONResponse:
    return JSONResponse((await _off_loop(_access(http).revoke_key, caller, key_id)).as_json())


@router.get("/collections/{name}/shares")
async def list_shares(name: str, http: Request, caller: Caller) -> JSONResponse:
    found = await _off_loop(_access(http).shares_of, caller, name)
    return JSONResponse({"object": "list", "data": [{"object": "share", **asdict(s)} for s in found]})


@router.put("/collections/{name}/shares", openapi_extra=declares(ShareBody))
async def share(name: str, http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, ShareBody)
    made = await _off_loop(_access(http).share, caller, name, body.team, body.access)
    return JSONResponse({"object": "share", **asdict(made)})


@router.delete("/collections/{name}/shares/{team}")
async def unshare(name: str, team: str, http: Request, caller: Caller) -> JSONResponse:
    await _off_loop(_access(http).unshare, caller, name, team)
    return JSONResponse({"object": "share.deleted", "collection": name, "team": team, "deleted": True})
