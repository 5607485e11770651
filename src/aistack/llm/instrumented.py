"""Every LLM backend goes through `InstrumentedLLM`, so every model counts the same way.

Streams always ask the backend for usage (tokens are counted from it, never estimated); the
usage chunk is passed on only to callers that asked for it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from aistack.llm.base import Chunk, LLMBackend
from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
    StreamOptions,
)
from aistack.llm.responses import usage as chat_usage_of
from aistack.metrics import Metrics

log = logging.getLogger("aistack")
CHAT = ("chat", "/v1/chat/completions")
COMPLETION = ("completion", "/v1/completions")
RESPONSES = ("responses", "/v1/responses")
RELIST_SECONDS = 10.0


def chat_usage(usage: dict[str, Any] | None) -> dict[str, int] | None:
    """A Responses usage object in chat's terms (what the token counters read)."""
    if not usage:
        return None
    return chat_usage_of(usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)


def carries_text(chunk: Chunk) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta")
        if (delta.get("content") if delta else choice.get("text")):
            return True
    return False


class InstrumentedLLM:
    def __init__(self, backend: LLMBackend, metrics: Metrics):
        self.backend = backend
        self.metrics = metrics
        self.name = backend.name
        self._listed_at = float("-inf")
        if hasattr(backend, "bind_metrics"):  # the slot router labels its own metrics by slot
            backend.bind_metrics(metrics)
        queues = getattr(backend, "model_queues", None)
        if queues is not None:
            metrics.watch_queues(queues)

    def __getattr__(self, name: str) -> Any:  # backend extras: preflight, model_queues...
        return getattr(self.backend, name)

    async def start(self) -> None:
        await self.backend.start()
        await self._refresh_served()  # every served model's series exist from the start, at 0

    async def close(self) -> None:
        await self.backend.close()

    async def models(self) -> list[dict[str, Any]]:
        cards = await self.backend.models()
        self.metrics.serve(card["id"] for card in cards)
        return cards

    async def _refresh_served(self) -> None:
        """The backend's model list, as the names metrics may use; an upstream that is down now
        is asked again on a later request for a name not yet listed (at most every 10 s)."""
        self._listed_at = time.monotonic()
        try:
            await self.models()
        except Exception:  # noqa: BLE001 - until it answers, requests count under `unknown`
            log.debug("no model list", exc_info=True)

    async def _label_ready(self, model: str) -> None:
        """A model that finished fine-tuning, or that an upstream added, since the last listing."""
        if self.metrics.label_for(model) != model and time.monotonic() - self._listed_at > RELIST_SECONDS:
            await self._refresh_served()

    async def health(self) -> dict[str, Any]:
        try:
            details = await self.backend.health()
        except BaseException:
            self.metrics.backend_up.labels(backend=self.name).set(0)
            raise
        self.metrics.backend_up.labels(backend=self.name).set(1)
        return details

    async def chat(self, request: ChatCompletionRequest) -> dict[str, Any]:
        return await self._call(request, CHAT, self.backend.chat)

    async def complete(self, request: CompletionRequest) -> dict[str, Any]:
        return await self._call(request, COMPLETION, self.backend.complete)

    def chat_stream(self, request: ChatCompletionRequest) -> AsyncIterator[Chunk]:
        return self._stream(request, CHAT, self.backend.chat_stream)

    def complete_stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        return self._stream(request, COMPLETION, self.backend.complete_stream)

    @property
    def serves_responses(self) -> bool:
        return bool(getattr(self.backend, "serves_responses", False))

    async def responses(self, body: dict[str, Any]) -> dict[str, Any]:
        """The upstream's own Responses API (serves_responses), counted as chat is."""
        await self._label_ready(body["model"])
        with self.metrics.track_inference(body["model"], *RESPONSES) as inference:
            result = await self.backend.responses(body)  # type: ignore[attr-defined]
            inference.usage(chat_usage(result.get("usage")))
        return result

    async def responses_stream(self, body: dict[str, Any]) -> AsyncIterator[Chunk]:
        await self._label_ready(body["model"])
        with self.metrics.track_inference(body["model"], *RESPONSES) as inference:
            async with aclosing(self.backend.responses_stream(body)) as events:  # type: ignore[attr-defined]
                async for event in events:
                    if event.get("type") == "response.output_text.delta" and event.get("delta"):
                        inference.token()
                    if event.get("type") in ("response.completed", "response.incomplete"):
                        inference.usage(chat_usage((event.get("response") or {}).get("usage")))
                    yield event

    async def _call(self, request: Any, kind: tuple[str, str],
                    call: Callable[[Any], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        await self._label_ready(request.model)
        with self.metrics.track_inference(request.model, *kind) as inference:
            result = await call(request)
            inference.usage(result.get("usage"))
        return result

    async def _stream(self, request: SamplingParams, kind: tuple[str, str],
                      stream: Callable[[Any], AsyncIterator[Chunk]]) -> AsyncIterator[Chunk]:
        caller_wants_usage = request.include_usage
        if not caller_wants_usage:
            request.stream_options = StreamOptions(include_usage=True)
        await self._label_ready(request.model)
        with self.metrics.track_inference(request.model, *kind) as inference:
            async with aclosing(stream(request)) as chunks:
                async for chunk in chunks:
                    if carries_text(chunk):
                        inference.token()
                    if chunk.get("usage"):
                        inference.usage(chunk["usage"])
                        if not caller_wants_usage and not chunk.get("choices"):
                            continue
                    yield chunk


async def watch_health(llm: InstrumentedLLM, interval: float) -> None:
    """Check the backend every `interval` seconds so `llm_backend_up` is current between /ready
    calls (an upstream that died while nobody asked shows as 0 within one interval)."""
    while True:
        try:
            await asyncio.wait_for(llm.health(), interval)
        except Exception:  # recorded as llm_backend_up 0 by health(); keep watching
            pass
        await asyncio.sleep(interval)
