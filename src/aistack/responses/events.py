"""A chat completion stream as the Responses API's typed events, in OpenAI's order:

    response.created, response.in_progress,
    [file_search_call: output_item.added, file_search_call.in_progress / .searching / .completed,
     output_item.done]
    message: output_item.added, content_part.added, output_text.delta..., output_text.annotation.added...,
             output_text.done, content_part.done, output_item.done
    function_call: output_item.added, function_call_arguments.delta..., function_call_arguments.done,
                   output_item.done
    response.completed (or response.incomplete past max_output_tokens; error then response.failed)

Every event has a `sequence_number`; there is no `[DONE]` line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from aistack.errors import AistackError
from aistack.streams import chained
from aistack.responses.translate import (
    citations,
    file_search_call,
    function_call_item,
    message_item,
    usage_of,
)

log = logging.getLogger("aistack.responses")
Item = dict[str, Any]
# (status, output, usage, cut) -> the response object
Envelope = Callable[[str, list[Item], Item | None, bool], Item]


class _Events:
    """The output as it grows, and the events that say so."""

    def __init__(self) -> None:
        self.sequence = 0
        self.output: list[Item] = []
        self.message: Item | None = None
        self.text: list[str] = []
        self.calls: dict[int, Item] = {}
        self.sources: list[Item] = []

    def event(self, kind: str, **fields: Any) -> Item:
        self.sequence += 1
        return {"type": kind, "sequence_number": self.sequence - 1, **fields}

    def _add(self, item: Item) -> Item:
        self.output.append(item)
        return self.event("response.output_item.added", output_index=len(self.output) - 1, item=dict(item))

    def _done(self, item: Item) -> Item:
        item["status"] = "completed" if item["status"] == "in_progress" else item["status"]
        return self.event("response.output_item.done", output_index=self.output.index(item), item=item)

    def file_search(self, query: str, sources: list[Item], with_results: bool) -> Iterator[Item]:
        self.sources = sources
        item = file_search_call(query, sources, with_results, status="in_progress")
        results, item["results"] = item["results"], None
        yield self._add(item)
        for stage in ("in_progress", "searching", "completed"):
            yield self.event(f"response.file_search_call.{stage}", output_index=len(self.output) - 1,
                             item_id=item["id"])
        item["results"] = results
        yield self._done(item)

    def text_delta(self, delta: str) -> Iterator[Item]:
        if self.message is None:
            self.message = message_item("", [], status="in_progress")
            self.message["content"] = []
            yield self._add(self.message)
            yield self.event("response.content_part.added", **self._where(),
                             part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        self.text.append(delta)
        yield self.event("response.output_text.delta", **self._where(), delta=delta, logprobs=[])

    def _where(self) -> Item:
        assert self.message is not None
        return {"item_id": self.message["id"], "output_index": self.output.index(self.message), "content_index": 0}

    def call_delta(self, call: Item) -> Iterator[Item]:
        index = call.get("index", 0)
        if index not in self.calls:
            yield from self.close_message("completed")
            item = function_call_item(call, status="in_progress")
            item["arguments"] = ""
            self.calls[index] = item
            yield self._add(item)
        item = self.calls[index]
        if arguments := (call.get("function") or {}).get("arguments"):
            item["arguments"] += arguments
            yield self.event("response.function_call_arguments.delta", item_id=item["id"],
                             output_index=self.output.index(item), delta=arguments)

    def close_message(self, status: str) -> Iterator[Item]:
        if self.message is None:
            return
        text = "".join(self.text)
        annotations = citations(text, self.sources)
        for number, annotation in enumerate(annotations):
            yield self.event("response.output_text.annotation.added", **self._where(), annotation_index=number,
                             annotation=annotation)
        part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
        yield self.event("response.output_text.done", **self._where(), text=text, logprobs=[])
        yield self.event("response.content_part.done", **self._where(), part=part)
        self.message["content"] = [part]
        self.message["status"] = status
        yield self._done(self.message)
        self.message = None

    def close_calls(self) -> Iterator[Item]:
        for item in self.calls.values():
            if item["status"] == "in_progress":
                yield self.event("response.function_call_arguments.done", item_id=item["id"],
                                 output_index=self.output.index(item), arguments=item["arguments"])
                yield self._done(item)


async def response_events(first: Item | None, chunks: AsyncIterator[Item], envelope: Envelope, query: str | None,
                          with_results: bool, finish: Callable[[Item], Awaitable[None]]) -> AsyncIterator[Item]:
    """`first` is the chat stream's first chunk, pulled already; `finish` receives the final
    response (the service stores it) before the last event."""
    events = _Events()
    yield events.event("response.created", response=envelope("in_progress", [], None, False))
    yield events.event("response.in_progress", response=envelope("in_progress", [], None, False))
    usage, cut, searched = None, False, query is None
    try:
        async for chunk in chained(first, chunks):
            if not searched:  # the sources ride on the first chunk
                for event in events.file_search(query or "", chunk.get("sources") or [], with_results):
                    yield event
                searched = True
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    for event in events.text_delta(delta["content"]):
                        yield event
                for call in delta.get("tool_calls") or ():
                    for event in events.call_delta(call):
                        yield event
                cut = cut or choice.get("finish_reason") == "length"
    except Exception as exc:  # a failure mid-stream: say so in the stream's own terms
        for event in _failed(events, envelope, exc, usage):
            yield event
        return
    finally:
        await chunks.aclose()
    for event in [*events.close_message("incomplete" if cut else "completed"), *events.close_calls()]:
        yield event
    final = envelope("incomplete" if cut else "completed", events.output, usage_of(usage), cut)
    try:
        await finish(final)
    except AistackError as exc:  # the answer could not be stored (store: true)
        for event in _failed(events, envelope, exc, usage):
            yield event
        return
    yield events.event("response.incomplete" if cut else "response.completed", response=final)


def _failed(events: _Events, envelope: Envelope, exc: Exception, usage: Item | None) -> Iterator[Item]:
    """An `error` event, then `response.failed` with the output so far (never internals)."""
    error = exc if isinstance(exc, AistackError) else AistackError("generation failed: the gateway log has the details")
    log.warning("response stream failed: %s", exc)
    detail = error.body()["error"]
    code = detail["code"] or detail["type"]
    yield events.event("error", code=code, message=detail["message"], param=detail["param"])
    failed = envelope("failed", events.output, usage_of(usage), False)
    failed["error"] = {"code": code, "message": detail["message"]}
    yield events.event("response.failed", response=failed)


async def relayed_events(first: Item | None, events: AsyncIterator[Item], patch: Callable[[Item], None],
                         finish: Callable[[Item], Awaitable[None]]) -> AsyncIterator[Item]:
    """An upstream's own Responses stream, passed on: each response object it carries gets
    `patch` (aistack's previous_response_id and store), and the final one goes to `finish`."""
    latest: Item = {}
    counter = _Events()
    try:
        async for event in chained(first, events):
            counter.sequence = int(event.get("sequence_number") or 0) + 1
            if isinstance(event.get("response"), dict):
                patch(event["response"])
                latest = event["response"]
            if event.get("type") in ("response.completed", "response.incomplete"):
                await finish(event["response"])
            yield event
    except Exception as exc:  # the upstream went away mid-stream, or the store did
        def as_failed(*_: Any) -> Item:
            return {**latest, "status": "failed"}

        for failure in _failed(counter, as_failed, exc, None):
            yield failure
    finally:
        await events.aclose()
