"""The ends of the Responses streams, on fakes. An upstream's own stream is passed on with
aistack's fields patched into every response object, and its final response is handed over to be
stored. A stream that dies mid-way (an upstream's, or a chat stream's) ends in `error` then
`response.failed`, numbered on, with no internals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aistack.errors import UpstreamError
from aistack.responses.events import relayed_events

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


async def upstream(events: list[dict[str, Any]], fail: bool = False) -> AsyncIterator[dict[str, Any]]:
    for event in events:
        yield event
    if fail:
        raise UpstreamError("the upstream model server closed the stream")


def created(n: int, status: str = "in_progress") -> dict[str, Any]:
    kind = "response.created" if status == "in_progress" else "response.completed"
    return {"type": kind, "sequence_number": n, "response": {"id": "resp_up", "status": status, "usage": None}}


def patch(response: dict[str, Any]) -> None:
    response.update(previous_response_id="resp_prev", store=True)


async def test_fields_are_patched_and_the_final_response_is_stored() -> None:
    stored: list[dict[str, Any]] = []

    async def finish(response: dict[str, Any]) -> None:
        stored.append(response)

    delta = {"type": "response.output_text.delta", "sequence_number": 1, "delta": "hi"}
    chunks = upstream([delta, created(2, "completed")])
    got = [e async for e in relayed_events(created(0), chunks, patch, finish)]
    assert [e["type"] for e in got] == ["response.created", "response.output_text.delta", "response.completed"]
    assert all(e["response"]["previous_response_id"] == "resp_prev" for e in got if "response" in e)
    assert stored == [got[-1]["response"]]


async def test_an_upstream_that_dies_mid_stream_ends_in_response_failed() -> None:
    async def finish(response: dict[str, Any]) -> None:
        raise AssertionError("nothing is stored for a failed stream")

    delta = {"type": "response.output_text.delta", "sequence_number": 1, "delta": "hi"}
    got = [e async for e in relayed_events(created(0), upstream([delta], fail=True), patch, finish)]
    assert [e["type"] for e in got] == ["response.created", "response.output_text.delta", "error", "response.failed"]
    assert [e["sequence_number"] for e in got] == [0, 1, 2, 3]
    assert got[-1]["response"]["status"] == "failed" and "closed the stream" in got[-1]["response"]["error"]["message"]


async def test_a_chat_stream_that_fails_mid_way_ends_in_response_failed_without_internals() -> None:
    from aistack.responses.events import response_events

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"content": "par"}, "finish_reason": None}]}
        raise RuntimeError("connection to 10.0.0.7:8001 reset")

    def envelope(status: str, output: list, usage: Any, cut: bool) -> dict[str, Any]:
        return {"id": "resp_x", "status": status, "output": list(output), "usage": usage}

    async def finish(response: dict[str, Any]) -> None:
        raise AssertionError("nothing is stored for a failed stream")

    stream = chunks()
    first = await anext(stream)
    got = [e async for e in response_events(first, stream, envelope, None, False, finish)]
    assert [e["type"] for e in got][-2:] == ["error", "response.failed"]
    assert got[-1]["response"]["status"] == "failed" and "10.0.0.7" not in str(got[-2:])
