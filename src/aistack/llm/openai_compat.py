"""Any OpenAI-compatible upstream: vLLM, Ollama's /v1, the llama.cpp server, LM Studio.

Requests go through as the client sent them; answers and stream chunks come back as the upstream
sent them, chunk by chunk. Only connection errors are retried (never a request the upstream saw).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from aistack.errors import UpstreamError, UpstreamRejected, UpstreamTimeout
from aistack.llm.protocol import ChatCompletionRequest, CompletionRequest, SamplingParams
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
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            config = self.config
            headers = {}
            if config.api_key is not None:
                headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
                limits=httpx.Limits(
                    max_connections=config.max_connections,
                    max_keepalive_connections=config.max_connections,
                ),
                transport=httpx.AsyncHTTPTransport(retries=config.retries),
            )
        return self._client

    async def start(self) -> None:
        self.client  # noqa: B018 - builds the pooled client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _failure(self, exc: httpx.HTTPError) -> UpstreamError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
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

    async def _get(self, path: str) -> Any:
        try:
            response = await self.client.get(path)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        if response.status_code >= 400:
            raise self._rejection(response.status_code, response.content)
        return response.json()

    async def _post(self, path: str, request: SamplingParams) -> dict[str, Any]:
        try:
            response = await self.client.post(path, content=orjson.dumps(request.wire()),
                                              headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        if response.status_code >= 400:
            raise self._rejection(response.status_code, response.content)
        return orjson.loads(response.content)

    async def _stream(self, path: str, request: SamplingParams) -> AsyncIterator[dict[str, Any]]:
        body = orjson.dumps(request.wire())
        try:
            async with self.client.stream(
                "POST", path, content=body, headers={"Content-Type": "application/json"}
            ) as response:
                if response.status_code >= 400:
                    raise self._rejection(response.status_code, await response.aread())
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    yield orjson.loads(data)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None

    async def models(self) -> list[dict[str, Any]]:
        return list((await self._get("/models")).get("data", []))

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
