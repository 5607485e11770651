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

from aistack.errors import AistackError, UpstreamError, upstream_failure, upstream_rejection
from aistack.llm.ollama import ollama_host
from aistack.llm.protocol import ChatCompletionRequest, CompletionRequest
from aistack.registry import MissingDependency
from aistack.settings import Settings
from aistack.settings.model import OpenAIUpstreamSettings

SERVICE = "upstream model server"


class OpenAICompatBackend:
    name = "openai"

    def __init__(self, config: OpenAIUpstreamSettings):
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.flavour = config.flavour
        self.ollama_host = ollama_host(config)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatBackend:
        return cls(settings.llm.openai)

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
        timed_out = isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)) and not isinstance(
            exc, aiohttp.ConnectionTimeoutError)
        return upstream_failure(exc, timed_out, SERVICE, self.base_url)

    @asynccontextmanager
    async def _request(self, method: str, path: str, body: bytes | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """An upstream response with status < 400. Connection errors are retried (`retries`), and a
        pooled keep-alive connection that the upstream had closed is retried once on a fresh one
        (no answer came on it); nothing an upstream answered is ever sent twice."""
        url = self.base_url + path
        attempt, stale_retried = 0, False
        while True:
            answered = False
            try:
                async with self.session.request(method, url, data=body) as response:
                    answered = True
                    if response.status >= 400:
                        raise upstream_rejection(response.status, await response.read(), SERVICE, self.base_url)
                    yield response
                    return
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                if attempt >= self.config.retries:
                    raise self._failure(exc) from None
                attempt += 1
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if answered or stale_retried:
                    raise self._failure(exc) from None
                stale_retried = True  # about 1 stream in 256 met a keep-alive connection closed under it
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise self._failure(exc) from None

    async def _get(self, path: str) -> Any:
        async with self._request("GET", path) as response:
            return orjson.loads(await response.read())

    async def _post(self, path: str, body: bytes) -> dict[str, Any]:
        async with self._request("POST", path, body) as response:
            return orjson.loads(await response.read())

    async def _stream(self, path: str, body: bytes) -> AsyncIterator[dict[str, Any]]:
        """The `data:` objects of an SSE answer (`event:` lines are dropped: each data object
        names its own type), up to `[DONE]` or the end."""
        async with self._request("POST", path, body) as response:
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
        return {"backend": self.name, "flavour": self.flavour, "models": len(models)}

    async def chat(self, request: ChatCompletionRequest) -> dict[str, Any]:
        return await self._post("/chat/completions", orjson.dumps(request.wire()))

    def chat_stream(self, request: ChatCompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream("/chat/completions", orjson.dumps(request.wire()))

    async def complete(self, request: CompletionRequest) -> dict[str, Any]:
        return await self._post("/completions", orjson.dumps(request.wire()))

    def complete_stream(self, request: CompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream("/completions", orjson.dumps(request.wire()))

    @property
    def serves_responses(self) -> bool:
        """Whether `/v1/responses` goes to the upstream's own (`responses: auto` is vLLM's)."""
        mode = self.config.responses
        return mode == "passthrough" or (mode == "auto" and self.flavour == "vllm")

    async def responses(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Responses API request the gateway has checked and resolved (no stored state upstream)."""
        return await self._post("/responses", orjson.dumps(body))

    def responses_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self._stream("/responses", orjson.dumps(body))
