"""Streaming load for the engine benchmarks: clients that send requests back to back and record
the time to the first token and the tokens generated (from `usage`, else one per chunk)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import orjson


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chat_body(model: str, prompt: str, max_tokens: int, **extra: object) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                         "temperature": 0, "stream": True, "stream_options": {"include_usage": True}, **extra})


def completion_body(model: str, prompt: str, max_tokens: int, **extra: object) -> bytes:
    return orjson.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                         "stream": True, "stream_options": {"include_usage": True}, **extra})


def _text(chunk: dict) -> str:
    choice = chunk["choices"][0]
    return (choice.get("delta") or {}).get("content") or choice.get("text") or ""


async def one(client, url: str, body: bytes) -> tuple[float, int]:
    """(seconds to the first text, generated tokens) for one streamed request; `body` is a chat or
    a completion request (the path follows from it)."""
    path = "/v1/chat/completions" if b'"messages"' in body else "/v1/completions"
    start, first, tokens, usage = time.perf_counter(), None, 0, None
    async with client.post(url + path, data=body, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 200, await response.text()
        async for line in response.content:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            chunk = orjson.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]["completion_tokens"]
            elif chunk.get("choices") and _text(chunk):
                first = first or time.perf_counter() - start
                tokens += 1  # a server that sends no usage in streams: one token per chunk
    return first or 0.0, usage if usage is not None else tokens


async def cell(url: str, bodies: list[bytes], clients: int, per_client: int) -> tuple[int, float, list[float]]:
    """(generated tokens, seconds, TTFTs) for `clients` clients sending `per_client` requests back
    to back, client n's i-th request being bodies[(n + i) % len(bodies)].
    A connection per request, for every server alike (reusing one that a server had closed failed)."""
    import aiohttp

    ttfts: list[float] = []
    total = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800),
                                     connector=aiohttp.TCPConnector(limit=clients, force_close=True)) as client:
        async def worker(n: int) -> None:
            nonlocal total
            for i in range(per_client):
                ttft, tokens = await one(client, url, bodies[(n + i) % len(bodies)])
                ttfts.append(ttft)
                total += tokens

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        return total, time.perf_counter() - started, ttfts
