"""The usage ledger: one row per /v1 request (who, team, model, prompt and completion tokens,
latency, status; streams and abandoned streams included), queued on the request path in O(1) and
written off it in batches, in a worker thread, each with its hourly rollup in the same
transaction. Reports read the rollups, never the raw rows; raw rows are kept
`access.usage_retention_days`, rollups `access.rollup_retention_days`.

An abandoned stream (the client hung up) has no usage chunk: its completion tokens are the content
chunks it was sent (one token each on llama.cpp and vLLM), and its prompt tokens are not known."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import anyio

from aistack.access.store import AccessStore, UsageEvent

if TYPE_CHECKING:
    from aistack.metrics import Metrics

log = logging.getLogger("aistack.access")
QUEUE_LIMIT = 100_000  # events waiting for a write; past it the oldest are dropped (and logged)
PRUNE_EVERY = 3600.0


def tokens_of(entry: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) tokens of a finished request's log entry."""
    prompt, completion = entry.get("prompt_tokens") or 0, entry.get("completion_tokens") or 0
    if not (prompt or completion) and entry.get("finish_reason") == "cancelled":
        completion = entry.get("streamed_chunks") or 0
    return int(prompt), int(completion)


def event_of(entry: dict[str, Any]) -> UsageEvent | None:
    """The ledger row of a request's access-log entry; None for what is not an API call."""
    if not str(entry.get("path", "")).startswith(("/v1/", "/mcp")) or "principal" not in entry:
        return None
    prompt, completion = tokens_of(entry)
    status = int(entry.get("status") or 0)
    outcome = "abandoned" if entry.get("finish_reason") == "cancelled" else "error" if status >= 400 else "ok"
    return UsageEvent(datetime.now(timezone.utc).isoformat(timespec="milliseconds"), entry["principal"],
                      entry.get("key_id"), entry.get("team") or "default", entry.get("model"), entry["path"][:200],
                      status, prompt, completion, float(entry.get("latency_ms") or 0.0), bool(entry.get("stream")),
                      outcome)


class Ledger:
    def __init__(self, store: AccessStore, flush_seconds: float = 1.0, batch: int = 1000,
                 retention_days: int = 30, rollup_retention_days: int = 400, metrics: Metrics | None = None):
        self.store, self.flush_seconds, self.batch = store, flush_seconds, batch
        self.retention_days, self.rollup_retention_days = retention_days, rollup_retention_days
        self.metrics = metrics
        self._queue: deque[UsageEvent] = deque()
        self._task: asyncio.Task | None = None
        self._pruned = 0.0
        self.dropped = 0
        self._series: dict[tuple[str, str], tuple[Any, Any, Any]] = {}  # (team, outcome) -> its counters

    def record(self, entry: dict[str, Any]) -> None:
        """Called as each request ends, on the loop: no I/O here."""
        event = event_of(entry)
        if event is None:
            return
        if len(self._queue) >= QUEUE_LIMIT:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(event)
        if self.metrics is not None:
            requests, prompt, completion = self._counters(event.team, event.outcome)
            requests.inc()
            prompt.inc(event.prompt_tokens)
            completion.inc(event.completion_tokens)

    def _counters(self, team: str, outcome: str) -> tuple[Any, Any, Any]:
        """A team's Prometheus series, looked up once (teams and outcomes are few)."""
        found = self._series.get((team, outcome))
        if found is None:
            tokens = self.metrics.team_tokens
            found = (self.metrics.team_requests.labels(team=team, outcome=outcome),
                     tokens.labels(team=team, kind="prompt"), tokens.labels(team=team, kind="completion"))
            self._series[(team, outcome)] = found
        return found

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - the store is down: keep the rows, try again
                log.warning("usage ledger not written (%d waiting): %s", len(self._queue), type(exc).__name__)

    async def flush(self) -> int:
        """Write what waits, in batches, off the loop; a failed batch goes back to the queue."""
        written = 0
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            try:
                await anyio.to_thread.run_sync(self.store.record_usage, batch)
            except BaseException:
                self._queue.extendleft(reversed(batch))
                raise
            written += len(batch)
        if time.monotonic() - self._pruned > PRUNE_EVERY:
            self._pruned = time.monotonic()
            now = datetime.now(timezone.utc)
            await anyio.to_thread.run_sync(self.store.prune_usage,
                                           (now - timedelta(days=self.retention_days)).isoformat(),
                                           (now - timedelta(days=self.rollup_retention_days)).isoformat())
        return written

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - logged: a gateway stopping must still stop
            log.warning("usage ledger: %d rows not written at shutdown: %s", len(self._queue), type(exc).__name__)
