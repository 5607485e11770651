"""Streams whose first item is pulled before anything is sent: an error before it (unknown model,
queue full, bad collection) is then an ordinary error, not a broken stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def pull_first(items: AsyncIterator[T]) -> T | None:
    """The first item now (None when there is none); `items` is closed if that fails."""
    try:
        return await anext(items)
    except StopAsyncIteration:
        return None
    except BaseException:
        await items.aclose()  # type: ignore[attr-defined]
        raise


async def chained(first: T | None, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    """`first` (when not None), then `rest`. Its owner closes `rest` (shielded, on a disconnect)."""
    if first is not None:
        yield first
    async for item in rest:
        yield item
