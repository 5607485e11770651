"""The caller of a request: its Bearer token made into a Principal by the access service.

`authenticate` is one dependency, used by the routers' guards and by every route that hands the
caller to a service (`caller: Caller`), so it runs once per request. A token whose check is cached costs no
thread; one the store must answer is checked in a worker thread, never on the loop."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import Depends, Request

from aistack.access.service import AccessService, WouldBlock
from aistack.gateway.middleware import request_log
from aistack.principals import Principal


def bearer(scope: dict[str, Any]) -> str | None:
    authorization = next((v for k, v in scope.get("headers") or () if k == b"authorization"), b"").decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def principal_of(access: AccessService, scope: dict[str, Any]) -> Principal:
    """The caller a request's scope names (its Bearer token and address)."""
    token, client = bearer(scope), (scope.get("client") or (None,))[0]
    try:
        return access.authenticate(token, client, blocking=False)
    except WouldBlock:
        return await anyio.to_thread.run_sync(access.authenticate, token, client)


async def authenticate(request: Request) -> Principal:
    found = await principal_of(request.app.state.container.access, request.scope)
    request_log(request.scope).update(principal=found.name, team=found.team, key_id=found.key_id)  # never the key
    return found


Caller = Annotated[Principal, Depends(authenticate)]
