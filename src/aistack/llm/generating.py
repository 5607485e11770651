"""Shared shape of backends that generate text themselves (llamacpp, fake).

A subclass provides `_session(request, chat)`: admission, prompt checks, then the text pieces.
This class turns those pieces into OpenAI completions and stream chunks with exact usage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
)
from aistack.llm.responses import ResponseIds
from aistack.llm.tools import finished_call


@dataclass
class Generation:
    """Counts of one generation, final once its pieces are exhausted."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: str = "stop"


@dataclass
class Run:
    pieces: AsyncIterator[str]
    stats: Generation


class GeneratingBackend(ABC):
    name: str

    @abstractmethod
    def _session(self, request: SamplingParams, chat: bool) -> AbstractAsyncContextManager[Run]:
        """Admit the request and start generating. Raises before yielding when it cannot run."""

    async def chat(self, request: ChatCompletionRequest) -> dict[str, Any]:
        return await self._complete(request, chat=True)

    async def complete(self, request: CompletionRequest) -> dict[str, Any]:
        return await self._complete(request, chat=False)

    def chat_stream(self, request: ChatCompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream(request, chat=True)

    def complete_stream(self, request: CompletionRequest) -> AsyncIterator[dict[str, Any]]:
        return self._stream(request, chat=False)

    async def _complete(self, request: SamplingParams, chat: bool) -> dict[str, Any]:
        ids = ResponseIds(request.model, chat)
        async with self._session(request, chat) as run:
            text = "".join([piece async for piece in run.pieces])
        stats = run.stats
        if isinstance(request, ChatCompletionRequest) and (call := finished_call(text, request, stats.finish_reason)):
            return ids.tool_call_completion(call, stats.prompt_tokens, stats.completion_tokens)
        if isinstance(request, CompletionRequest) and request.echo:
            text = request.prompt_text() + text
        return ids.completion(text, stats.finish_reason, stats.prompt_tokens, stats.completion_tokens)

    async def _stream(self, request: SamplingParams, chat: bool) -> AsyncIterator[dict[str, Any]]:
        ids = ResponseIds(request.model, chat)
        tools = isinstance(request, ChatCompletionRequest) and request.tool_mode() is not None
        held = ""  # with tools: text is held until it cannot be a call
        finish = None
        async with self._session(request, chat) as run:
            if chat:
                yield ids.chunk("", first=True)
            elif isinstance(request, CompletionRequest) and request.echo:
                yield ids.chunk(request.prompt_text())
            async for piece in run.pieces:
                if tools and (held + piece).lstrip()[:1] in ("", "{"):
                    held += piece  # a call is sent whole, once it is complete
                    continue
                if held:
                    piece, held = held + piece, ""
                yield ids.chunk(piece)
        if held:
            call = finished_call(held, request, run.stats.finish_reason)  # type: ignore[arg-type]
            if call:
                yield ids.tool_call_chunk(call)
                finish = "tool_calls"
            else:
                yield ids.chunk(held)
        yield ids.chunk(None, finish or run.stats.finish_reason)
        if request.include_usage:
            yield ids.usage_chunk(run.stats.prompt_tokens, run.stats.completion_tokens)
