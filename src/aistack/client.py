"""What the CLI talks to: a running gateway over HTTP, or the backends in this process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import httpx
import orjson

from aistack.container import Container
from aistack.errors import AistackError
from aistack.llm.protocol import ChatCompletionRequest


class ClientError(Exception):
    """Something the user should read: the gateway's or backend's error message."""


class ChatClient(Protocol):
    def models(self) -> list[dict[str, Any]]: ...
    def stream_chat(self, body: dict[str, Any]) -> Iterator[str]: ...
    def close(self) -> None: ...


def check_response(url: str, response: httpx.Response) -> None:
    """Raise the gateway's error message (OpenAI error shape) as a ClientError."""
    if response.status_code < 400:
        return
    response.read()
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    raise ClientError(f"{url} answered {response.status_code}: {message}")


def sse_chunks(http: httpx.Client, url: str, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The JSON events of a server-sent-events response; an error event becomes a ClientError."""
    try:
        with http.stream("POST", path, json=body) as response:
            check_response(url, response)
            for line in response.iter_lines():
                if not line.startswith("data:") or line.endswith("[DONE]"):
                    continue
                chunk = orjson.loads(line[5:])
                if "error" in chunk:
                    raise ClientError(chunk["error"]["message"])
                yield chunk
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach the gateway at {url}: {exc}") from None


class GatewayClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 300.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def _check(self, response: httpx.Response) -> None:
        check_response(self.url, response)

    def models(self) -> list[dict[str, Any]]:
        try:
            response = self.http.get("/v1/models")
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the gateway at {self.url}: {exc}") from None
        self._check(response)
        return response.json()["data"]

    def stream_chat(self, body: dict[str, Any]) -> Iterator[str]:
        for chunk in sse_chunks(self.http, self.url, "/v1/chat/completions", {**body, "stream": True}):
            for choice in chunk.get("choices", ()):
                if choice["delta"].get("content"):
                    yield choice["delta"]["content"]

    def close(self) -> None:
        self.http.close()


class EventLoop:
    """One event loop for a command's lifetime: async calls made synchronous, backend errors
    turned into ClientError."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def _run(self, coro: Any) -> Any:
        try:
            return self.runner.run(coro)
        except AistackError as exc:
            raise ClientError(exc.message) from None

    def _iterate(self, items: AsyncIterator[Any]) -> Iterator[Any]:
        """The items one at a time; closing early closes the async iterator (stops generation)."""
        try:
            while True:
                try:
                    yield self._run(anext(items))
                except StopAsyncIteration:
                    return
        finally:
            self.runner.run(items.aclose())


class InProcessClient(EventLoop):
    """Runs the configured backend inside the CLI process, on one event loop for its lifetime."""

    def __init__(self, container: Container):
        super().__init__()
        self.container = container
        self._run(container.start())

    def models(self) -> list[dict[str, Any]]:
        return self._run(self.container.llm.models())

    def stream_chat(self, body: dict[str, Any]) -> Iterator[str]:
        try:
            request = ChatCompletionRequest.model_validate({**body, "stream": True})
        except ValueError as exc:
            raise ClientError(str(exc)) from None
        for chunk in self._iterate(self.container.llm.chat_stream(request)):
            for choice in chunk.get("choices", ()):
                if choice["delta"].get("content"):
                    yield choice["delta"]["content"]

    def close(self) -> None:
        self.runner.run(self.container.close())
        self.runner.close()
