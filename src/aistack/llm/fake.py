"""A scripted backend for unit tests of control flow (queueing, errors, streaming). Never a default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aistack.errors import ModelNotFound
from aistack.llm.generating import GeneratingBackend, Generation, Run
from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
)
from aistack.llm.queue import ModelQueue
from aistack.llm.responses import model_card
from aistack.settings import Settings
from aistack.settings.model import FakeLLMSettings


class FakeBackend(GeneratingBackend):
    """Answers every request with `reply`, one word per token, `delay` seconds apart."""

    name = "fake"

    def __init__(self, config: FakeLLMSettings):
        self.config = config
        self.queues = {m: ModelQueue(m, self.config.max_queue) for m in self.config.models}
        self.cancelled = 0  # streams whose consumer went away before the end

    @classmethod
    def from_settings(cls, settings: Settings) -> FakeBackend:
        return cls(settings.llm.fake)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        for queue in self.queues.values():
            queue.shutdown()

    async def models(self) -> list[dict[str, Any]]:
        return [model_card(m, "aistack-fake") for m in self.config.models]

    async def health(self) -> dict[str, Any]:
        return {"backend": self.name}

    def model_queues(self) -> dict[str, ModelQueue]:
        return dict(self.queues)

    @asynccontextmanager
    async def _session(self, request: SamplingParams, chat: bool) -> AsyncIterator[Run]:
        if request.model not in self.queues:
            raise ModelNotFound(request.model, list(self.queues))
        if isinstance(request, ChatCompletionRequest):
            prompt = " ".join(m.text() for m in request.messages)
        else:
            assert isinstance(request, CompletionRequest)
            prompt = request.prompt_text()
        words = self.config.reply.split(" ")
        limit = request.token_limit or len(words)
        stats = Generation(prompt_tokens=len(prompt.split()))

        async def pieces() -> AsyncIterator[str]:
            finished = False
            try:
                for i, word in enumerate(words[:limit]):
                    await asyncio.sleep(self.config.delay)
                    stats.completion_tokens += 1
                    yield word if i == 0 else " " + word
                stats.finish_reason = "length" if limit < len(words) else "stop"
                finished = True
            finally:
                if not finished:
                    self.cancelled += 1

        async with self.queues[request.model].turn():
            yield Run(pieces(), stats)
