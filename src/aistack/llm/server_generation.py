"""One generation on a llama-server: the prompt goes as token ids (aistack's own template and
tokenizer, so prompt counts are exact), the grammar as GBNF, and text streams back token by token.
Closing the stream hangs up, and llama-server stops that sequence at its next token."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from aistack.errors import BackendUnavailable, InvalidRequest
from aistack.llm.generating import Generation
from aistack.llm.llama_server import LlamaServer
from aistack.llm.protocol import SamplingParams

log = logging.getLogger("aistack.llm.llamacpp")
DEFAULT_TEMPERATURE = 0.8  # llama.cpp's default; OpenAI's 1.0 derails small models


def completion_body(prompt_tokens: list[int], request: SamplingParams, stops: list[str], max_tokens: int,
                    grammar: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": prompt_tokens, "n_predict": max_tokens, "stream": True, "cache_prompt": True,
        "return_tokens": True, "stop": stops,
        "temperature": request.temperature if request.temperature is not None else DEFAULT_TEMPERATURE,
        "top_p": request.top_p if request.top_p is not None else 0.95,
        "presence_penalty": request.presence_penalty or 0.0,
        "frequency_penalty": request.frequency_penalty or 0.0,
    }
    if request.seed is not None:
        body["seed"] = request.seed
    if grammar:
        body["grammar"] = grammar
    return body


async def generate_on_server(
    client: httpx.AsyncClient,
    server: LlamaServer,
    body: dict[str, Any],
    stats: Generation,
    on_done: Callable[[dict[str, Any]], None],
) -> AsyncIterator[str]:
    """Yields text and fills `stats`; `on_done` gets the final event's timings (cache_n: prompt
    tokens reused from the cache)."""
    url, key = await server.endpoint()
    streamed = 0  # tokens in the partial events: the count when the stream ends early
    stats.finish_reason = "length"
    try:
        async with client.stream("POST", url + "/completion", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as response:
            if response.status_code != 200:
                raise _refused(server.name, response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if line.startswith("error: "):  # llama-server's event for a task that failed after the 200
                    raise _failed_in_stream(server.name, line[7:])
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if "error" in event:
                    raise _failed_in_stream(server.name, json.dumps(event["error"]))
                if not event.get("stop"):
                    streamed += len(event.get("tokens") or ())
                    stats.completion_tokens = streamed
                    if event.get("content"):
                        yield event["content"]
                    continue
                # the final event: llama-server's own count (it includes an end-of-generation token)
                eos = event.get("stop_type") == "eos"
                stats.completion_tokens = max(0, int(event.get("tokens_predicted", streamed)) - eos)
                stats.finish_reason = "stop" if event.get("stop_type") in ("eos", "word") else "length"
                on_done(event.get("timings") or {})
                return
        raise await server.lost()  # the stream ended without its final event
    except httpx.TransportError:
        raise await server.lost() from None
    except (GeneratorExit, asyncio.CancelledError):  # the client went away: hanging up stops the sequence
        stats.finish_reason = "cancelled"
        log.info("generation cancelled", extra={"fields": {
            "model": server.name, "completion_tokens": stats.completion_tokens}})
        raise


def _failed_in_stream(model: str, error: str) -> Exception:
    """The error event of a stream: its code says whether the request or the engine failed."""
    try:
        detail = json.loads(error)
        status = int(detail.get("code", 500)) if isinstance(detail, dict) else 500
    except (ValueError, TypeError):
        status = 500
    return _refused(model, status, error.encode())


def _refused(model: str, status: int, detail: bytes) -> Exception:
    log.warning("llama-server refused a request", extra={"fields": {
        "model": model, "status": status, "detail": detail[:500].decode("utf-8", "replace")}})
    if 400 <= status < 500:
        return InvalidRequest(f"the engine of model '{model}' refused the request (HTTP {status})")
    return BackendUnavailable(f"the engine of model '{model}' failed (HTTP {status}); retry shortly")
