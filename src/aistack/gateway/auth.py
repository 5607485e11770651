"""The caller of a request: its Bearer token made into a Principal by the access service.

`authenticate` is one dependency, used by the routers' guards and by every route that hands the
caller to a service (`caller: Caller`), so it runs once per request. A token whose check is cached costs no
thread; one the store must answer is checked in a worker thread, never on the loop."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request

from aistack.access.service import AccessService, WouldBlock
from aistack.gateway.middleware import request_log
from aistack.principals import Principal


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def authenticate(request: Request) -> Principal:
    access: AccessService = request.app.state.container.access
    token, client = bearer(request), request.client.host if request.client else None
    try:
        found = access.authenticate(token, client, blocking=False)
    except WouldBlock:
        found = await anyio.to_thread.run_sync(access.authenticate, token, client)
    request_log(request.scope).update(principal=found.name, team=found.team, key_id=found.key_id)  # never the key
    return found


Caller = Annotated[Principal, Depends(authenticate)]
