"""The chat service: which path a chat completion takes, and the call.

- A plain request goes to the LLM seam.
- `rag` (OpenAI SDK: `extra_body={"rag": {...}}`) answers from documents through the RAG
  pipeline; it is taken out of the request so no upstream ever sees it.
- `model: rag-pipeline@champion` answers with the registered configuration that alias points
  at; the request's own temperature, max_tokens and `rag` options still win.

`notes`, when given, receives what was decided (collection, pipeline) for the access log.
Every call takes the caller: `chat` scope, its key's model allowlist, and for documents the
knowledge service's own rules (its team's collections, `rag:read`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import ValidationError

from aistack.errors import ModelNotFound, validation_error
from aistack.wire.knowledge import RetrievalOptions
from aistack.knowledge.service import KnowledgeService
from aistack.llm.base import LLMBackend
from aistack.llm.protocol import ChatCompletionRequest, CompletionRequest
from aistack.principals import Principal

if TYPE_CHECKING:
    from aistack.tracking.pipelines import PipelineResolver

Notes = dict[str, Any]


def rag_options(body: ChatCompletionRequest) -> RetrievalOptions | None:
    """The `rag` extension: true, or retrieval options; None when absent or false."""
    extra = body.model_extra or {}
    if "rag" not in extra:
        return None
    value = extra.pop("rag")
    if value is False or value is None:
        return None
    try:
        return RetrievalOptions() if value is True else RetrievalOptions.model_validate(value)
    except ValidationError as exc:
        raise validation_error(exc.errors(), prefix=("rag",)) from None


class ChatService:
    def __init__(self, llm: LLMBackend, knowledge: Callable[[], KnowledgeService], pipelines: PipelineResolver):
        self.llm, self._knowledge, self.pipelines = llm, knowledge, pipelines

    async def _route(self, caller: Principal, body: ChatCompletionRequest, notes: Notes) -> RetrievalOptions | None:
        """The retrieval options when documents answer, None for a plain chat."""
        caller.require("chat")
        caller.require_model(body.model)
        rag = rag_options(body)
        alias = self.pipelines.alias_in(body.model)
        if alias:
            config = await anyio.to_thread.run_sync(self.pipelines.resolve, alias)
            body.model = config.llm_model
            body.temperature = config.temperature if body.temperature is None else body.temperature
            body.max_tokens = body.max_tokens or (None if body.max_completion_tokens else config.max_tokens)
            notes["pipeline"] = f"{alias}:{config.collection}"
            rag = rag or config.options()
        if rag is not None:
            notes["rag_collection"] = rag.collection
        return rag

    async def chat(self, caller: Principal, body: ChatCompletionRequest, notes: Notes | None = None
                   ) -> dict[str, Any]:
        rag = await self._route(caller, body, {} if notes is None else notes)
        if rag is None:
            return await self.llm.chat(body)
        return await self._knowledge().chat(caller, body, rag)

    async def chat_stream(self, caller: Principal, body: ChatCompletionRequest, notes: Notes | None = None
                          ) -> AsyncIterator[dict[str, Any]]:
        rag = await self._route(caller, body, {} if notes is None else notes)
        if rag is None:
            return self.llm.chat_stream(body)
        return await self._knowledge().chat_stream(caller, body, rag)

    def _completion(self, caller: Principal, body: CompletionRequest) -> None:
        caller.require("chat")
        caller.require_model(body.model)

    async def complete(self, caller: Principal, body: CompletionRequest) -> dict[str, Any]:
        self._completion(caller, body)
        return await self.llm.complete(body)

    def complete_stream(self, caller: Principal, body: CompletionRequest) -> AsyncIterator[dict[str, Any]]:
        self._completion(caller, body)
        return self.llm.complete_stream(body)

    async def models(self, caller: Principal) -> list[dict[str, Any]]:
        """The models the caller may use (a key with a model allowlist sees only those)."""
        return [m for m in await self.llm.models() if caller.models is None or caller.admin or m["id"] in caller.models]

    async def model(self, caller: Principal, model_id: str) -> dict[str, Any]:
        models = await self.models(caller)
        for model in models:
            if model["id"] == model_id:
                return model
        raise ModelNotFound(model_id, [m["id"] for m in models])
