"""Admission to a batching engine: a request runs once a sequence is free and its tokens (prompt
plus the most it may generate) fit the KV cache left; up to `max_queue` wait in arrival order; the
rest get 429 with Retry-After."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aistack.errors import QueueFull


class SequenceAdmission:
    def __init__(self, model: str, parallel: int, kv_tokens: int, max_queue: int, retry_after: int = 1):
        self.model = model
        self.parallel = parallel
        self.kv_tokens = kv_tokens
        self.max_queue = max_queue
        self.retry_after = retry_after
        self.running = 0
        self.reserved = 0  # KV-cache tokens the running sequences may fill
        self.prompt_cache_tokens = 0  # prompt tokens the engine reused from its cache, not evaluated
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def depth(self) -> int:
        """Requests waiting, not counting the running ones."""
        return len(self._waiting)

    @property
    def kv_reserved_ratio(self) -> float:
        return self.reserved / self.kv_tokens

    def prompt_cached(self, timings: dict[str, Any]) -> None:
        """Counts the prompt tokens a finished generation took from the engine's cache."""
        self.prompt_cache_tokens += int(timings.get("cache_n") or 0)

    @asynccontextmanager
    async def admit(self, tokens: int) -> AsyncIterator[None]:
        """Hold a sequence and `tokens` of KV cache while the body runs."""
        if self._waiting or not self._fits(tokens):
            await self._wait(tokens)
        else:
            self._take(tokens)
        try:
            yield
        finally:
            self._give_back(tokens)

    async def _wait(self, tokens: int) -> None:
        if len(self._waiting) >= self.max_queue:
            raise QueueFull(
                f"model '{self.model}' is busy: {self.running} requests are running and {len(self._waiting)} "
                f"waiting (max_queue {self.max_queue}); retry after {self.retry_after}s",
                retry_after=self.retry_after)
        turn = asyncio.get_running_loop().create_future()
        entry = (tokens, turn)
        self._waiting.append(entry)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._give_back(tokens)  # admitted just as the caller went away
            else:
                self._waiting.remove(entry)
                self._wake()
            raise

    def _fits(self, tokens: int) -> bool:
        return self.running < self.parallel and self.reserved + tokens <= self.kv_tokens

    def _take(self, tokens: int) -> None:
        self.running += 1
        self.reserved += tokens

    def _give_back(self, tokens: int) -> None:
        self.running -= 1
        self.reserved -= tokens
        self._wake()

    def _wake(self) -> None:
        """Admit waiters in arrival order while the first one fits (no overtaking: a long request
        is never starved by short ones)."""
        while self._waiting and self._fits(self._waiting[0][0]):
            tokens, turn = self._waiting.popleft()
            self._take(tokens)
            turn.set_result(None)
