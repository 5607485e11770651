"""Chat for the CLI: a running gateway over HTTP, or the configured backend in this process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from aistack.client.http import ClientError, Gateway
from aistack.client.local import Local
from aistack.container import Container
from aistack.llm.protocol import ChatCompletionRequest


class ChatClient(Protocol):
    def models(self) -> list[dict[str, Any]]: ...
    def stream_chat(self, body: dict[str, Any]) -> Iterator[str]: ...
    def close(self) -> None: ...


def contents(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    """The text deltas of chat.completion.chunk events."""
    for chunk in chunks:
        for choice in chunk.get("choices", ()):
            if choice["delta"].get("content"):
                yield choice["delta"]["content"]


class GatewayClient(Gateway):
    def models(self) -> list[dict[str, Any]]:
        return self.call("GET", "/v1/models")["data"]

    def stream_chat(self, body: dict[str, Any]) -> Iterator[str]:
        return contents(self.events("/v1/chat/completions", {**body, "stream": True}))


class InProcessClient(Local):
    """Runs the configured backend inside the CLI process."""

    def __init__(self, container: Container):
        super().__init__(container)
        self.run(container.start())

    def models(self) -> list[dict[str, Any]]:
        return self.run(self.container.llm.models())

    def stream_chat(self, body: dict[str, Any]) -> Iterator[str]:
        try:
            request = ChatCompletionRequest.model_validate({**body, "stream": True})
        except ValueError as exc:
            raise ClientError(str(exc)) from None
        return contents(self.iterate(self.container.llm.chat_stream(request)))
