"""The one way sync code calls async code: a portal onto an event loop; and its other half,
`in_thread`, the one way async code calls blocking code (a database, a file) off the loop.

`Portal()` runs a loop of its own in a daemon thread (the CLI, the MLflow pyfunc, evaluation);
`Portal(loop)` reaches a loop that is already running (the gateway's, from the threads agent
graphs run in). Either way the backends live on one loop for the portal's lifetime, and any
thread but the loop's own may call in."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


async def in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(*args, **kwargs)` in a worker thread, awaited: the loop serves others meanwhile."""
    return await anyio.to_thread.run_sync(lambda: call(*args, **kwargs))


class Portal:
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self._thread: threading.Thread | None = None
        if loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, daemon=True, name="aistack-portal")
            self._thread.start()
        self.loop = loop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result, run on the portal's loop. Ctrl-C cancels it there."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """The items one at a time; closing early closes the async iterator (a stream stops)."""
        try:
            while True:
                try:
                    yield self.call(anext(items))
                except StopAsyncIteration:
                    return
        finally:
            self.call(_aclose(items))

    def close(self) -> None:
        """Stops a loop the portal started; a borrowed loop is its owner's to stop."""
        if self._thread is None:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        if not self.loop.is_running():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


async def _aclose(items: AsyncIterator[Any]) -> None:
    close = getattr(items, "aclose", None)
    if close is not None:
        await close()
