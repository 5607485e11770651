"""Teams, users and keys (/v1/admin/teams|users|keys: the `admin` scope), who the caller is
(/v1/me), and collection shares (/v1/collections/{name}/shares: `rag:write` in the owning team).
The access service checks every rule; these routes only parse and shape."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Request

from aistack.access.service import AccessService
from aistack.portal import in_thread
from aistack.principals import Limits
from aistack.gateway.auth import Caller
from aistack.gateway.body import declares, parse
from aistack.gateway.responses import JSONResponse
from aistack.wire import access as wire
from aistack.wire.access import KeyBody, LimitsBody, ShareBody, TeamBody, TeamUpdate, UserBody

router = APIRouter(prefix="/v1", tags=["access"])


def limits_of(body: LimitsBody) -> Limits:
    return Limits(body.requests_per_minute, body.tokens_per_minute, body.token_budget, body.budget_period)


def _access(http: Request) -> AccessService:
    return http.app.state.container.access


@router.get("/me", response_model=wire.Me)
async def me(caller: Caller) -> JSONResponse:
    """Who this key is: its name, team, scopes and models."""
    return JSONResponse({"object": "principal", **caller.as_dict(), "anonymous": caller.anonymous})


@router.get("/usage", response_model=wire.UsageReport)
async def usage(http: Request, caller: Caller, since: str | None = None, until: str | None = None,
                team: str | None = None, key: str | None = None, model: str | None = None,
                by: Literal["hour", "day", "month", "team", "key", "model"] = "day") -> JSONResponse:
    """Requests and tokens from the usage ledger's hourly rollups (`admin`): `since` is 7d, 24h or
    an ISO date (default: 30 days)."""
    found = await in_thread(_access(http).usage, caller, since, until, team, key, model, by)
    return JSONResponse({"object": "list", "by": by, "data": found})


@router.get("/admin/teams", response_model=wire.TeamList)
async def list_teams(http: Request, caller: Caller) -> JSONResponse:
    found = await in_thread(_access(http).teams, caller)
    return JSONResponse({"object": "list", "data": [t.as_json() for t in found]})


@router.post("/admin/teams", status_code=201, response_model=wire.Team, openapi_extra=declares(TeamBody))
async def create_team(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, TeamBody)
    made = await in_thread(_access(http).create_team, caller, body.name, body.models, limits_of(body))
    return JSONResponse(made.as_json(), status_code=201)


@router.patch("/admin/teams/{name}", response_model=wire.Team, openapi_extra=declares(TeamUpdate))
async def update_team(name: str, http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, TeamUpdate)
    return JSONResponse((await in_thread(_access(http).update_team, caller, name, body.models, limits_of(body))).as_json())


@router.delete("/admin/teams/{name}", response_model=wire.TeamDeleted)
async def delete_team(name: str, http: Request, caller: Caller) -> JSONResponse:
    await in_thread(_access(http).delete_team, caller, name)
    return JSONResponse({"object": "team.deleted", "name": name, "deleted": True})


@router.get("/admin/users", response_model=wire.UserList)
async def list_users(http: Request, caller: Caller, team: str | None = None) -> JSONResponse:
    found = await in_thread(_access(http).users, caller, team)
    return JSONResponse({"object": "list", "data": [u.as_json() for u in found]})


@router.post("/admin/users", status_code=201, response_model=wire.User, openapi_extra=declares(UserBody))
async def create_user(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, UserBody)
    made = await in_thread(_access(http).create_user, caller, body.name, body.team)
    return JSONResponse(made.as_json(), status_code=201)


@router.get("/admin/keys", response_model=wire.KeyList)
async def list_keys(http: Request, caller: Caller, team: str | None = None) -> JSONResponse:
    found = await in_thread(_access(http).keys, caller, team)
    return JSONResponse({"object": "list", "data": [k.as_json() for k in found]})


@router.post("/admin/keys", status_code=201, response_model=wire.IssuedKey, openapi_extra=declares(KeyBody))
async def create_key(http: Request, caller: Caller) -> JSONResponse:
    """The key itself is in `secret`, this once: it is stored only as a hash."""
    body = await parse(http, KeyBody)
    issued = await in_thread(_access(http).create_key, caller, body.team, body.user, body.name, body.scopes,
                             body.models, body.expires_in_days, limits_of(body))
    return JSONResponse({**issued.key.as_json(), "secret": issued.secret}, status_code=201)


@router.post("/admin/keys/{key_id}/rotate", status_code=201, response_model=wire.IssuedKey)
async def rotate_key(key_id: str, http: Request, caller: Caller) -> JSONResponse:
    issued = await in_thread(_access(http).rotate_key, caller, key_id)
    return JSONResponse({**issued.key.as_json(), "secret": issued.secret}, status_code=201)


@router.post("/admin/keys/{key_id}/revoke", response_model=wire.Key)
async def revoke_key(key_id: str, http: Request, caller: Caller) -> JSONResponse:
    return JSONResponse((await in_thread(_access(http).revoke_key, caller, key_id)).as_json())


@router.get("/collections/{name}/shares", response_model=wire.ShareList)
async def list_shares(name: str, http: Request, caller: Caller) -> JSONResponse:
    found = await in_thread(_access(http).shares_of, caller, name)
    return JSONResponse({"object": "list", "data": [{"object": "share", **asdict(s)} for s in found]})


@router.put("/collections/{name}/shares", response_model=wire.Share, openapi_extra=declares(ShareBody))
async def share(name: str, http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, ShareBody)
    made = await in_thread(_access(http).share, caller, name, body.team, body.access)
    return JSONResponse({"object": "share", **asdict(made)})


@router.delete("/collections/{name}/shares/{team}", response_model=wire.ShareDeleted)
async def unshare(name: str, team: str, http: Request, caller: Caller) -> JSONResponse:
    await in_thread(_access(http).unshare, caller, name, team)
    return JSONResponse({"object": "share.deleted", "collection": name, "team": team, "deleted": True})
