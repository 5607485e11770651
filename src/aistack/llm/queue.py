"""Admission for one model: one request runs, a bounded number wait, the rest get 429."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from aistack.errors import QueueFull

T = TypeVar("T")
_DONE = object()


class ModelQueue:
    """Requests to one model run one at a time, in arrival order.

    All blocking work for the model runs on its single worker thread, so even a request whose
    client went away cannot overlap the next one: the thread finishes the old work first."""

    def __init__(self, model: str, max_queue: int, retry_after: int = 1):
        self.model = model
        self.max_queue = max_queue
        self.retry_after = retry_after
        self._lock = asyncio.Lock()
        self._waiting = 0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llm-{model}")

    parallel = 1  # sequences at once (llm_sequences_capacity)

    @property
    def depth(self) -> int:
        """Requests waiting, not counting the one running."""
        return self._waiting

    @property
    def running(self) -> int:
        return int(self._lock.locked())

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._lock.locked() and self._waiting >= self.max_queue:
            raise QueueFull(
                f"model '{self.model}' is busy: {self._waiting} requests are already waiting "
                f"(max_queue {self.max_queue}); retry after {self.retry_after}s",
                retry_after=self.retry_after,
            )
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    async def stream(self, make_iterator: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Run a blocking iterator on the worker thread and yield its items as they come.

        Closing this async iterator makes the worker close the blocking one after its current
        item, so generation ends after the current token."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            iterator: Iterator[T] | None = None
            try:
                iterator = make_iterator()
                for item in iterator:
                    loop.call_soon_threadsafe(items.put_nowait, item)
                    if stop.is_set():
                        break
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(items.put_nowait, exc)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()  # a generator stopped early runs its cleanup here, on this thread
                loop.call_soon_threadsafe(items.put_nowait, _DONE)

        loop.run_in_executor(self.executor, produce)
        try:
            while True:
                item = await items.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            stop.set()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
