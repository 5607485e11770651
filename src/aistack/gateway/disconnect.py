"""Work stops when the client leaves: a non-streaming request runs beside a watch on the
connection, and a hang-up cancels it (generation stops as a closed stream's does). Streams stop
through their own iterator (streaming.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client hung up before the answer: nothing is sent."""


async def _hang_up(http: Request) -> None:
    """Returns when the client disconnects. The body has been read already, so the next message
    from the server is the disconnect (or never comes, while the answer is still wanted)."""
    while (await http.receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(http: Request, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_hang_up(http))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request itself is cancelled (shutdown): so is its work
        task.cancel()
        raise
    finally:
        watch.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise ClientDisconnected
    return task.result()
