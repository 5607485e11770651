"""`llm.backend: slots`: each request goes to one of the serving slots.

- Weighted, sticky splits: rendezvous hashing over the client's key (the sticky header, else the
  API key, else the address), so one user stays on one variant while weights hold (the seed's 9:1).
- Passive health: a slot that fails `failure_threshold` times in a row sits out `cooldown` seconds.
- Failover: a request that failed before any response byte reached the client moves to the next
  slot. A stream that already sent chunks is not replayed.
- In-flight requests per slot, so a switch can drain the old slot before stopping it.

The routes come from a `RouteTable`: an in-memory view the request path reads without waiting
(the deployment's slot store behind it is refreshed elsewhere, off the event loop)."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aistack.errors import BackendUnavailable, UpstreamError, UpstreamTimeout
from aistack.llm.openai_compat import OpenAICompatBackend
from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
)
from aistack.settings.model import OpenAIUpstreamSettings

sticky_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("sticky_key", default=None)


@dataclass(frozen=True)
class Route:
    """A slot as the router needs it: where it is, which model, and its share of traffic."""
    name: str
    url: str  # OpenAI-compatible base URL, with /v1
    model: str | None = None  # the upstream's model name; None passes the client's through
    weight: float = 0.0
    version: str | None = None


class RouteTable(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def routes(self) -> list[Route]:
        """The serving routes, from memory: never waits on a store. Raises BackendUnavailable when
        no view has been read yet."""

    async def refresh(self) -> list[Route]:
        """Read the table again now (after a switch); on failure the last good view stays."""


def rendezvous(key: str, slots: list[Route]) -> list[Route]:
    """Slots in this key's order of preference: weighted highest-random-weight hashing. The first
    is chosen with probability weight / total, and a key keeps its slot while weights hold."""
    def score(slot: Route) -> float:
        digest = hashlib.sha256(f"{key}|{slot.name}".encode()).digest()
        u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 1)  # uniform in (0, 1)
        return -math.log(u) / slot.weight

    return sorted(slots, key=score)


class SlotRouter:
    name = "slots"

    def __init__(self, table: RouteTable, upstream: OpenAIUpstreamSettings, failure_threshold: int = 3,
                 cooldown: float = 30.0):
        self.table = table
        self.upstream = upstream
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clients: dict[tuple[str, str], OpenAICompatBackend] = {}
        self.inflight: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._cooldown_until: dict[str, float] = {}
        self.metrics: Any = None

    def bind_metrics(self, metrics: Any) -> None:
        self.metrics = metrics

    async def start(self) -> None:
        await self.table.start()

    async def close(self) -> None:
        await self.table.close()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    def client(self, slot: Route) -> OpenAICompatBackend:
        key = (slot.name, slot.url)
        if key not in self._clients:
            self._clients[key] = OpenAICompatBackend(self.upstream.model_copy(update={"base_url": slot.url, "retries": 0}))
        return self._clients[key]

    def candidates(self, key: str | None) -> list[Route]:
        serving = self.table.routes()
        now = time.monotonic()
        healthy = [s for s in serving if self._cooldown_until.get(s.name, 0) <= now] or serving
        if not healthy:
            raise BackendUnavailable("no slot is serving: deploy one (aistack deploy run SLOT)")
        return rendezvous(key or str(time.monotonic_ns()), healthy)

    def _outcome(self, slot: Route, status: str, started: float, usage: dict[str, Any] | None = None) -> None:
        if status == "error":
            self._failures[slot.name] += 1
            if self._failures[slot.name] >= self.failure_threshold:
                self._cooldown_until[slot.name] = time.monotonic() + self.cooldown
        elif status == "success":
            self._failures[slot.name] = 0
        if self.metrics is not None:
            self.metrics.slot_outcome(slot.name, status, time.perf_counter() - started, usage)

    def _for(self, slot: Route, request: SamplingParams) -> Any:
        return request.model_copy(update={"model": slot.model}) if slot.model else request

    async def _call(self, request: SamplingParams, call: Callable[[OpenAICompatBackend, Any], Awaitable[dict]]) -> dict:
        error: Exception | None = None
        for slot in self.candidates(sticky_key.get()):
            started = time.perf_counter()
            self.inflight[slot.name] += 1
            try:
                result = await call(self.client(slot), self._for(slot, request))
            except UpstreamTimeout:
                self._outcome(slot, "error", started)
                raise
            except UpstreamError as exc:  # nothing reached the client yet: the next slot answers
                self._outcome(slot, "error", started)
                error = exc
                continue
            finally:
                self.inflight[slot.name] -= 1
            self._outcome(slot, "success", started, result.get("usage"))
            return {**result, "model": request.model}
        raise error or BackendUnavailable("no slot could answer")

    async def _stream(self, request: SamplingParams, open_stream: Callable[[OpenAICompatBackend, Any], AsyncIterator[dict]]
                      ) -> AsyncIterator[dict]:
        error: Exception | None = None
        for slot in self.candidates(sticky_key.get()):
            started = time.perf_counter()
            self.inflight[slot.name] += 1
            chunks = open_stream(self.client(slot), self._for(slot, request))
            sent = False
            usage = None
            try:
                async for chunk in chunks:
                    sent = True
                    usage = chunk.get("usage") or usage
                    yield {**chunk, "model": request.model}
            except UpstreamError as exc:
                self._outcome(slot, "error", started)
                if sent or isinstance(exc, UpstreamTimeout):
                    raise
                error = exc
                continue
            except GeneratorExit:
                self._outcome(slot, "cancelled", started)
                raise
            finally:
                self.inflight[slot.name] -= 1
                await chunks.aclose()
            self._outcome(slot, "success", started, usage)
            return
        raise error or BackendUnavailable("no slot could answer")

    async def chat(self, request: ChatCompletionRequest) -> dict[str, Any]:
        return await self._call(request, lambda c, r: c.chat(r))

    async def complete(self, request: CompletionRequest) -> dict[str, Any]:
        return await self._call(request, lambda c, r: c.complete(r))

    def chat_stream(self, request: ChatCompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream(request, lambda c, r: c.chat_stream(r))

    def complete_stream(self, request: CompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream(request, lambda c, r: c.complete_stream(r))

    async def models(self) -> list[dict[str, Any]]:
        for slot in self.candidates(None):
            try:
                return await self.client(slot).models()
            except UpstreamError:
                continue
        return []

    async def health(self) -> dict[str, Any]:
        serving = await self.table.refresh()
        if not serving:
            raise BackendUnavailable("no slot is serving")
        return {"backend": self.name, "slots": {s.name: {"weight": s.weight, "version": s.version,
                                                         "inflight": self.inflight[s.name]} for s in serving}}

    async def drain(self, name: str, grace: float) -> int:
        """Wait until no request is in flight on `name`, or `grace` seconds. Returns those left."""
        deadline = time.monotonic() + grace
        while self.inflight[name] > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.inflight[name]
