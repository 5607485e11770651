"""Any OpenAI-compatible upstream: vLLM, Ollama's /v1, the llama.cpp server, LM Studio.

Requests go through as the client sent them; answers and stream chunks come back as the upstream
sent them, chunk by chunk. Only connection errors are retried (never a request the upstream saw).
The client is aiohttp: httpx's connection pool cost about 1 ms of CPU per request under load
(benchmarks/inference.py), more than the rest of the gateway together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from aistack.errors import (
    AistackError,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from aistack.llm.ollama import ollama_host
from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
)
from aistack.registry import MissingDependency
from aistack.settings import Settings


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """message, type, param, code from an OpenAI error body (or a plain one)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return (body.decode("utf-8", "replace")[:500] or None), None, None, None
    error = data.get("error", data) if isinstance(data, dict) else {}
    if isinstance(error, str):
        return error, None, None, None
    if not isinstance(error, dict):
        return None, None, None, None
    message = error.get("message") or error.get("detail")
    code = error.get("code")
    return (
        str(message) if message is not None else None,
        error.get("type"),
        error.get("param"),
        str(code) if code is not None else None,
    )


class OpenAICompatBackend:
    name = "openai"

    def __init__(self, settings: Settings):
        self.config = settings.llm.openai
        self.base_url = self.config.base_url.rstrip("/")
        self.flavour = self.config.flavour
        self.ollama_host = ollama_host(settings)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            config = self.config
            headers = {"Content-Type": "application/json"}
            if config.api_key is not None:
                headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=config.connect_timeout,
                                              sock_read=config.read_timeout),
                connector=aiohttp.TCPConnector(limit=config.max_connections),
                auto_decompress=True,
            )
        return self._session

    async def start(self) -> None:
        self.session  # noqa: B018 - builds the pooled session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _failure(self, exc: BaseException) -> UpstreamError:
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)) and not isinstance(
            exc, aiohttp.ConnectionTimeoutError
        ):
            return UpstreamTimeout(f"upstream {self.base_url} timed out: {type(exc).__name__}")
        return UpstreamError(f"upstream {self.base_url} unreachable: {exc or type(exc).__name__}")

    def _rejection(self, status: int, body: bytes) -> Exception:
        message, type_, param, code = _error_fields(body)
        message = message or f"upstream answered HTTP {status}"
        if status >= 500:
            return UpstreamError(f"upstream {self.base_url} failed with HTTP {status}: {message}")
        return UpstreamRejected(
            status, message, type=type_ or "invalid_request_error", param=param, code=code
        )

    @asynccontextmanager
    async def _request(self, method: str, path: str, body: bytes | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """An upstream response with status < 400. Connection errors are retried; nothing else."""
        url = self.base_url + path
        for attempt in range(self.config.retries + 1):
            try:
                async with self.session.request(method, url, data=body) as response:
                    if response.status >= 400:
                        raise self._rejection(response.status, await response.read())
                    yield response
                    return
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                if attempt == self.config.retries:
                    raise self._failure(exc) from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise self._failure(exc) from None

    async def _get(self, path: str) -> Any:
        async with self._request("GET", path) as response:
            return orjson.loads(await response.read())

    async def _post(self, path: str, request: SamplingParams) -> dict[str, Any]:
        async with self._request("POST", path, orjson.dumps(request.wire())) as response:
            return orjson.loads(await response.read())

    async def _stream(self, path: str, request: SamplingParams) -> AsyncIterator[dict[str, Any]]:
        async with self._request("POST", path, orjson.dumps(request.wire())) as response:
            async for line in response.content:
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                yield orjson.loads(data)

    async def models(self) -> list[dict[str, Any]]:
        cards = list((await self._get("/models")).get("data", []))
        if self.flavour == "ollama":
            await self._add_ollama_details(cards)
        return cards

    async def _add_ollama_details(self, cards: list[dict[str, Any]]) -> None:
        """Ollama's /api/tags knows each local model's size, family and quantisation."""
        from aistack.llm.ollama import OllamaModels

        try:
            local = await asyncio.to_thread(lambda: OllamaModels(self.ollama_host, timeout=5).list())
        except (AistackError, MissingDependency):
            return  # the details are extra: the model list stands without them
        details = {row["id"]: row for row in local}
        for card in cards:
            if card.get("id") in details:
                card["details"] = {k: v for k, v in details[card["id"]].items() if k != "id"}

    async def health(self) -> dict[str, Any]:
        models = await self.models()
        return {"backend": self.name, "upstream": self.base_url, "models": len(models)}

    async def chat(self, request: ChatCompletionRequest) -> dict[str, Any]:
        return await self._post("/chat/completions", request)

    def chat_stream(self, request: ChatCompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream("/chat/completions", request)

    async def complete(self, request: CompletionRequest) -> dict[str, Any]:
        return await self._post("/completions", request)

    def complete_stream(self, request: CompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream("/completions", request)
