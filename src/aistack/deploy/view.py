"""The slot table the router reads on the request path: an in-memory view of the slot store,
refreshed in the background off the event loop, with a timeout. When the store is down or hangs,
requests go on with the last good view; only a gateway that never read the store answers 503.

A refresh that hangs (a store that accepts connections and never answers) is left in its worker
thread: the next one waits for it rather than piling up threads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import anyio

from aistack.deploy.slots import Slot, SlotStore
from aistack.errors import BackendUnavailable
from aistack.llm.routing import Route
from aistack.settings.deploy import DeploySettings

log = logging.getLogger("aistack.deploy")


def route(slot: Slot) -> Route:
    return Route(slot.name, slot.url, slot.model, slot.weight, slot.version)


class SlotView:
    def __init__(self, store: SlotStore, config: DeploySettings):
        self.store = store
        self.config = config
        self._routes: list[Route] | None = None  # the serving slots of the last good read; None before one
        self.stale = False  # the last read failed: routing goes by an older one
        self._reading: asyncio.Future[list[Slot]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self._run(self._seed)
        except Exception as exc:  # the store is down at start-up: keep trying in the background
            self._failed(exc)
        self._task = asyncio.create_task(self._refresh_forever(), name="slot-view")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _seed(self) -> list[Slot]:
        """Slots declared in settings are defined once; then the table as it stands."""
        known = {s.name for s in self.store.list()}
        for name, spec in self.config.slots.items():
            if name not in known:
                self.store.put(Slot(name, spec.url, spec.model, 0.0, "stopped", spec.version, spec.runtime,
                                    spec.runtime_spec()), actor="settings")
        return self.store.list()

    async def _run(self, read: Callable[[], list[Slot]]) -> list[Slot]:
        """One read in a worker thread, at most `store_timeout` seconds; a read still running is
        joined, not repeated."""
        if self._reading is None or self._reading.done():
            loop = asyncio.get_running_loop()
            self._reading = loop.run_in_executor(None, read)
            self._reading.add_done_callback(lambda done: done.cancelled() or done.exception())  # seen, if abandoned
        with anyio.fail_after(self.config.store_timeout):
            slots = await asyncio.shield(self._reading)
        self._routes = [route(s) for s in slots if s.serving]  # built once a read, not once a request
        if self.stale:
            log.warning("slot store answers again: the slot view is current")
        self.stale = False
        return slots

    def _failed(self, exc: BaseException) -> None:
        if not self.stale:  # once per outage; the store's address stays out of the log line
            self.stale = True
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            log.warning("slot store unreachable (%s): serving the last good slot view", reason)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.refresh_interval)
            await self.refresh()

    async def refresh(self) -> list[Route]:
        try:
            await self._run(self.store.list)
        except Exception as exc:
            self._failed(exc)
        return self._routes or []

    def routes(self) -> list[Route]:
        if self._routes is None:
            raise BackendUnavailable("the slot state has not been read yet: the deployment store is unreachable")
        return self._routes
