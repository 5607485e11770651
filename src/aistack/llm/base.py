"""The LLM seam: what every backend (llamacpp, openai, fake) provides.

Requests come in as OpenAI wire models; results go out as OpenAI-shaped dicts, so the `openai`
upstream passes its answers through untouched and the gateway serialises whatever it gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from aistack.llm.protocol import ChatCompletionRequest, CompletionRequest

Chunk = dict[str, Any]


@runtime_checkable
class LLMBackend(Protocol):
    name: str

    async def start(self) -> None:
        """Open connections and load preloaded models."""

    async def close(self) -> None:
        """Release models and connections."""

    async def models(self) -> list[dict[str, Any]]:
        """OpenAI model objects: {"id", "object": "model", "created", "owned_by"}."""

    async def health(self) -> dict[str, Any]:
        """Details when the backend can serve; raises an AistackError when it cannot."""

    async def chat(self, request: ChatCompletionRequest) -> dict[str, Any]:
        """A `chat.completion` object with exact usage."""

    def chat_stream(self, request: ChatCompletionRequest) -> AsyncIterator[Chunk]:
        """`chat.completion.chunk` objects; a final usage chunk when include_usage is set.

        Errors that stop the request (unknown model, context too long, queue full) are raised
        before the first chunk. Closing the iterator stops generation."""

    async def complete(self, request: CompletionRequest) -> dict[str, Any]:
        """A `text_completion` object with exact usage."""

    def complete_stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """`text_completion` chunks, with the same rules as chat_stream."""
