"""Server-sent events for OpenAI streams, started only once the first chunk exists, so that
errors before it (unknown model, context too long, queue full) are ordinary HTTP errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from fastapi.responses import StreamingResponse

from aistack.gateway.errors import stream_error_event
from aistack.streams import chained, pull_first

log = logging.getLogger("aistack.gateway")
DONE = b"data: [DONE]\n\n"
# /openapi.json: a route that streams when the body asks (`"stream": true`)
EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {
    "schema": {"type": "string", "description": "Server-sent events: one JSON object per `data:` line, "
               "then `data: [DONE]`."}}}}}


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def sse_response(
    chunks: AsyncIterator[dict[str, Any]], access: dict[str, Any], include_usage: bool
) -> StreamingResponse:
    """Pull the first chunk now (raising errors as HTTP errors), then stream the rest.

    The backend is always asked for usage so the access log has exact tokens; the usage chunk
    reaches the client only when it asked for it."""
    first = await pull_first(chunks)
    if first is not None and first.get("model"):
        access.setdefault("model", first["model"])  # the model that answers, when the route chose it

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for chunk in chained(first, chunks):
                if chunk.get("usage"):
                    access.update(chunk["usage"])
                    if not include_usage and not chunk.get("choices"):
                        continue
                for choice in chunk.get("choices") or ():
                    if choice.get("finish_reason"):
                        access["finish_reason"] = choice["finish_reason"]
                    if (choice.get("delta") or {}).get("content") or choice.get("text"):
                        access["streamed_chunks"] = access.get("streamed_chunks", 0) + 1  # an abandoned stream's tokens
                yield sse(chunk)
            finished = True
            yield DONE
        except Exception as exc:  # a failure mid-stream: tell the client, keep serving
            log.warning("stream failed: %s", exc)
            access["finish_reason"] = "error"
            yield sse(stream_error_event(exc))
        finally:
            if not finished and "finish_reason" not in access:
                access["finish_reason"] = "cancelled"
            # On a disconnect this scope is cancelled, and anyio would cancel every await in the
            # backend's cleanup too; shield it so generation is told to stop.
            with anyio.CancelScope(shield=True):
                await chunks.aclose()

    return _event_stream(body())


def _event_stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def typed_event_response(events: AsyncIterator[dict[str, Any]], access: dict[str, Any]) -> StreamingResponse:
    """The Responses API's stream: `event: <type>` over each `data:` line, no `[DONE]`. The last
    response object's usage goes to the access log. Generation has begun before the first event
    is pulled, so errors before it were raised already; a failure after it is a `response.failed`
    event from the stream itself."""
    first = await pull_first(events)

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for event in chained(first, events):
                kind = event["type"]
                if kind in ("response.completed", "response.incomplete", "response.failed"):
                    usage = event["response"].get("usage") or {}
                    access.update(prompt_tokens=usage.get("input_tokens", 0),
                                  completion_tokens=usage.get("output_tokens", 0),
                                  finish_reason=kind.removeprefix("response."))
                    finished = True
                yield b"event: " + kind.encode() + b"\n" + sse(event)
        finally:
            if not finished:
                access.setdefault("finish_reason", "cancelled")
            with anyio.CancelScope(shield=True):  # as in sse_response: let generation be told to stop
                await events.aclose()

    return _event_stream(body())
