"""The RAG pipeline, one object for the gateway, the CLI, evaluation and the MLflow pyfunc:
retrieve, fill the seed's prompt, ask the LLM, and attach structured sources. When nothing
passes the threshold, say so without calling the LLM.

Results are OpenAI chat objects with a `sources` list (non-streaming) or a first chunk that
carries `sources` (streaming), so OpenAI SDK users read them as an extra field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import ValidationError

from aistack.errors import InvalidRequest, validation_error
from aistack.llm.base import LLMBackend
from aistack.llm.protocol import ChatCompletionRequest
from aistack.llm.responses import ResponseIds
from aistack.knowledge.prompts import fit_context, rag_messages
from aistack.knowledge.retrieve import Retrieval, Retriever, source_of
from aistack.wire.knowledge import RetrievalOptions
from aistack.settings import Settings
from aistack.vectorstore import Hit


def question_of(request: ChatCompletionRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text()
    raise InvalidRequest("RAG needs a user message to answer.", param="messages")


@dataclass(frozen=True)
class Question:
    """One question to answer from documents, with what the caller may set for the answer."""

    text: str
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stream: bool = False


class RagPipeline:
    def __init__(self, settings: Settings, retriever: Retriever, llm: LLMBackend, default_model: str | None = None):
        self.settings = settings
        self.retriever = retriever
        self.llm = llm
        self.default_model = default_model

    def request(self, question: Question) -> ChatCompletionRequest:
        """The chat request for one question: its model, else rag.model, else the default model."""
        model = question.model or self.settings.rag.model or self.default_model
        if not model:
            raise InvalidRequest("no model given and no llm.default_model configured", param="model")
        try:
            return ChatCompletionRequest.model_validate({
                "model": model, "messages": [{"role": "user", "content": question.text}], "stream": question.stream,
                "temperature": question.temperature, "max_tokens": question.max_tokens, "seed": question.seed,
                **({"stream_options": {"include_usage": True}} if question.stream else {}),
            })
        except ValidationError as exc:  # a question's own values (max_tokens, temperature) out of bounds
            raise validation_error(exc.errors()) from None

    async def retrieve(self, query: str, options: RetrievalOptions, label: str | None = None) -> Retrieval:
        return await anyio.to_thread.run_sync(self.retriever.retrieve, query, options, label)

    async def _prepare(self, request: ChatCompletionRequest, options: RetrievalOptions, label: str | None
                       ) -> tuple[ChatCompletionRequest | None, Retrieval, list[dict[str, Any]]]:
        """The LLM request (None when there is no context) and the sources it will cite."""
        retrieval = await self.retrieve(question_of(request), options, label)
        body, used = self.request_for(request, retrieval)
        return body, retrieval, [{**source_of(hit), "text": hit.text} for hit in used]

    def request_for(self, request: ChatCompletionRequest, retrieval: Retrieval
                    ) -> tuple[ChatCompletionRequest | None, list[Hit]]:
        """The grounded LLM request for a retrieval, and the hits its context holds."""
        if not retrieval.hits:
            return None, []
        context, used = fit_context(retrieval.hits, self.settings.rag.max_context_chars)
        rag = self.settings.rag
        body = request.model_copy(update={
            "messages": rag_messages(rag.system_prompt, context, request.messages),
            "temperature": rag.temperature if request.temperature is None else request.temperature,
            "max_tokens": request.max_tokens or (None if request.max_completion_tokens else rag.max_tokens),
        })
        return body, used

    def no_context_answer(self, retrieval: Retrieval) -> str:
        return self.settings.rag.no_context_answer.format(
            collection=retrieval.collection, threshold=retrieval.score_threshold)

    def _info(self, retrieval: Retrieval, sources: list[dict[str, Any]]) -> dict[str, Any]:
        return {"sources": sources, "rag": {"collection": retrieval.collection, "retrieval": retrieval.retrieval,
                                           "top_k": retrieval.top_k, "score_threshold": retrieval.score_threshold,
                                           "retrieval_ms": round(retrieval.milliseconds, 2), **retrieval.extra,
                                           "context_found": bool(sources)}}

    async def chat(self, request: ChatCompletionRequest, options: RetrievalOptions,
                   label: str | None = None) -> dict[str, Any]:
        """`options.collection` is the store's name; `label`, the caller's name for it."""
        body, retrieval, sources = await self._prepare(request, options, label)
        if body is None:
            result = ResponseIds(request.model, chat=True).completion(
                self.no_context_answer(retrieval), "stop", 0, 0)
        else:
            result = await self.llm.chat(body)
        return {**result, **self._info(retrieval, sources)}

    async def chat_stream(self, request: ChatCompletionRequest, options: RetrievalOptions,
                          label: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Errors before the first chunk (bad collection, unknown model, queue full) are raised."""
        body, retrieval, sources = await self._prepare(request, options, label)
        info = self._info(retrieval, sources)
        if body is None:
            return _canned(request.model, self.no_context_answer(retrieval), info)
        return _with_sources(self.llm.chat_stream(body), info)


async def _canned(model: str, text: str, info: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    ids = ResponseIds(model, chat=True)
    yield {**ids.chunk(text, first=True), **info}
    yield ids.chunk(None, finish_reason="stop")
    yield ids.usage_chunk(0, 0)


async def _with_sources(chunks: AsyncIterator[dict[str, Any]], info: dict[str, Any]
                        ) -> AsyncIterator[dict[str, Any]]:
    first = True
    try:
        async for chunk in chunks:
            yield {**chunk, **info} if first else chunk
            first = False
    finally:
        await chunks.aclose()
