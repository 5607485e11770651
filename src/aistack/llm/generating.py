"""Shared shape of backends that generate text themselves (llamacpp, fake).

A subclass provides `_session(request, chat)`: admission, prompt checks, then the text pieces.
This class turns those pieces into OpenAI completions and stream chunks with exact usage.

A tool call that sampling (temperature above 0) ran past max_tokens, and that closing cannot
mend, is generated once more greedily, with the same bounds (aistack.llm.call_budget): sampling
can ramble in escapes or write the call's fixed keys in more tokens than counted, greedy decoding
hardly ever does. The answer's usage is the second generation's; a greedy call that still runs
out is the 400 naming max_tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from aistack.errors import InvalidRequest
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
        text, stats = await self._generated(request, chat)
        if isinstance(request, ChatCompletionRequest):
            call, text, stats = await self._finished_call(request, text, stats)
            if call:
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
        stats = run.stats
        if held:
            call, held, stats = await self._finished_call(request, held, stats)  # type: ignore[arg-type]
            if call:
                yield ids.tool_call_chunk(call)
                finish = "tool_calls"
            else:
                yield ids.chunk(held)
        yield ids.chunk(None, finish or stats.finish_reason)
        if request.include_usage:
            yield ids.usage_chunk(stats.prompt_tokens, stats.completion_tokens)

    async def _generated(self, request: SamplingParams, chat: bool) -> tuple[str, Generation]:
        async with self._session(request, chat) as run:
            return "".join([piece async for piece in run.pieces]), run.stats

    async def _finished_call(self, request: ChatCompletionRequest, text: str,
                             stats: Generation) -> tuple[dict[str, Any] | None, str, Generation]:
        """`finished_call`, and the text and counts it came from, with one greedy try more for a
        sampled call cut off (see above)."""
        try:
            return finished_call(text, request, stats.finish_reason), text, stats
        except InvalidRequest:
            if request.temperature == 0:
                raise
        greedy = request.model_copy(update={"temperature": 0.0})
        text, stats = await self._generated(greedy, chat=True)
        return finished_call(text, greedy, stats.finish_reason), text, stats
