"""The Responses API service: a response is a chat completion (chat/service.py does the model, the
`rag` extension and the caller's checks), its conversation items and output kept when `store` is
true.

Ownership: a stored response belongs to its caller's identity within its team (as an agent run
does); anyone else, another team above all, gets a 404. An admin sees every response. Creating
takes the `chat` scope, `file_search` also `rag:read` on the collection (the knowledge service)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from aistack.chat.service import ChatService, Notes
from aistack.errors import AistackError, BackendUnavailable, InvalidRequest, NotFound
from aistack.knowledge.pipeline import question_of
from aistack.llm.protocol import ChatCompletionRequest
from aistack.principals import Principal
from aistack.responses.events import relayed_events, response_events
from aistack.responses.store import ResponseStore, Stored
from aistack.streams import pull_first
from aistack.responses.translate import (
    chat_request,
    input_items,
    new_id,
    output_of,
    response_object,
    upstream_body,
    usage_of,
)
from aistack.wire.responses import ResponsesRequest

Item = dict[str, Any]


class ResponsesService:
    def __init__(self, chat: ChatService, store: Callable[[], ResponseStore]):
        self.chat, self._store = chat, store

    async def _in_store(self, work: Callable[[ResponseStore], Any], message: str) -> Any:
        """One store call in a worker thread; a store that fails is a 503 saying `message`."""
        try:
            return await anyio.to_thread.run_sync(lambda: work(self._store()))
        except AistackError:
            raise
        except Exception as exc:
            raise BackendUnavailable(message, detail=str(exc)) from None

    async def _stored(self, caller: Principal, response_id: str, param: str | None = None) -> Stored:
        stored = await self._in_store(lambda store: store.get(response_id), "the response store is unavailable")
        if stored is None or not (caller.admin or (stored.team == caller.team and stored.owner == caller.identity)):
            raise NotFound(f"no response with id '{response_id[:128]}'", param=param)
        return stored

    async def _put(self, caller: Principal, response: Item, conversation: list[Item]) -> None:
        stored = Stored(response["id"], caller.team, caller.identity, response, conversation)
        await self._in_store(lambda store: store.put(stored), "the response store is unavailable: send store: "
                             "false to answer without keeping it")

    async def _conversation(self, caller: Principal, body: ResponsesRequest) -> list[Item]:
        """The stored chain `previous_response_id` names, then this input."""
        caller.require("chat")
        conversation = input_items(body)
        if body.previous_response_id:
            previous = await self._stored(caller, body.previous_response_id, "previous_response_id")
            conversation = previous.history() + conversation
        return conversation

    async def _prepare(self, caller: Principal, body: ResponsesRequest
                       ) -> tuple[ChatCompletionRequest, list[Item], str | None]:
        """The chat request, the conversation it answers, and the file_search query (if any)."""
        conversation = await self._conversation(caller, body)
        request = chat_request(body, conversation)
        query = None
        if body.file_search():
            try:
                query = question_of(request)
            except InvalidRequest:
                raise InvalidRequest("file_search needs a user message to search for", param="input") from None
        return request, conversation, query

    def _envelope(self, body: ResponsesRequest) -> Callable[..., Item]:
        response_id, created_at = new_id("resp"), int(time.time())

        def envelope(status: str, output: list[Item], usage: Item | None, cut: bool, model: str | None = None
                     ) -> Item:
            return response_object(response_id, body, created_at, status, output, usage, cut, model)

        return envelope

    def _passes_through(self, body: ResponsesRequest) -> bool:
        """The upstream answers /v1/responses itself (vLLM), for what it can do: not file_search
        over aistack's collections, not a registered pipeline."""
        return (bool(getattr(self.chat.llm, "serves_responses", False)) and body.file_search() is None
                and not self.chat.pipelines.alias_in(body.model))

    async def _relay(self, caller: Principal, body: ResponsesRequest) -> tuple[Item, list[Item]]:
        """The upstream's request and the conversation it answers (the chat service checks the
        model on the other path)."""
        caller.require_model(body.model)
        conversation = await self._conversation(caller, body)
        return upstream_body(body, conversation), conversation

    def _patch(self, body: ResponsesRequest) -> Callable[[Item], None]:
        def patch(response: Item) -> None:
            response.update(previous_response_id=body.previous_response_id, store=body.store)
        return patch

    async def create(self, caller: Principal, body: ResponsesRequest, notes: Notes | None = None) -> Item:
        if self._passes_through(body):
            payload, conversation = await self._relay(caller, body)
            response = await self.chat.llm.responses(payload)  # type: ignore[attr-defined]
            self._patch(body)(response)
            if body.store:
                await self._put(caller, response, conversation)
            return response
        request, conversation, query = await self._prepare(caller, body)
        completion = await self.chat.chat(caller, request, notes)
        output, cut = output_of(completion, query, self._with_results(body))
        response = self._envelope(body)("incomplete" if cut else "completed", output, usage_of(completion.get("usage")),
                                        cut, completion.get("model"))
        if body.store:
            await self._put(caller, response, conversation)
        return response

    async def create_stream(self, caller: Principal, body: ResponsesRequest, notes: Notes | None = None
                            ) -> AsyncIterator[Item]:
        """Errors before generation starts (unknown model, bad previous_response_id) are raised here."""
        async def finish(response: Item) -> None:
            if body.store:
                await self._put(caller, response, conversation)

        if self._passes_through(body):
            payload, conversation = await self._relay(caller, body)
            events = self.chat.llm.responses_stream(payload)  # type: ignore[attr-defined]
            return relayed_events(await pull_first(events), events, self._patch(body), finish)
        request, conversation, query = await self._prepare(caller, body)
        chunks = await self.chat.chat_stream(caller, request, notes)
        first = await pull_first(chunks)  # queue full, context too long: an HTTP error, not a stream
        return response_events(first, chunks, self._envelope(body), query, self._with_results(body), finish)

    @staticmethod
    def _with_results(body: ResponsesRequest) -> bool:
        return "file_search_call.results" in (body.include or ())

    async def get(self, caller: Principal, response_id: str) -> Item:
        return (await self._stored(caller, response_id)).response

    async def input_items(self, caller: Principal, response_id: str) -> list[Item]:
        """The items the response answered, newest first (OpenAI's default order)."""
        return list(reversed((await self._stored(caller, response_id)).conversation))

    async def delete(self, caller: Principal, response_id: str) -> None:
        await self._stored(caller, response_id)
        await self._in_store(lambda store: store.delete(response_id), "the response store is unavailable")
