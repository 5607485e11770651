"""Tool calls that fit their token budget: bounds from max_tokens, and a cut-off call closed, or
refused with a 400 naming max_tokens, never returned as text. The embedded model's side is in
tests/integration/test_tool_calls.py."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest

from aistack.errors import InvalidRequest
from aistack.llm.call_budget import bounded, close_json, skeleton
from aistack.llm.generating import Generation, GeneratingBackend, Run
from aistack.llm.protocol import ChatCompletionRequest
from aistack.llm.tools import call_schema, finished_call

pytestmark = pytest.mark.unit
NOTE = {"type": "object", "required": ["title", "tags"], "properties": {
    "title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
    "level": {"enum": ["low", "high"]}, "day": {"type": "string", "format": "date"}, "code": {"type": "string",
                                                                                       "maxLength": 3}}}


def request(max_tokens: int | None = 40) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({
        "model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "note", "parameters": NOTE}}], "tool_choice": "required"})


def test_free_strings_and_arrays_get_bounds_from_the_budget_left() -> None:
    spare = 100 - 20 - 4 - 3 * 3  # budget, skeleton, reserve, 3 more tags' punctuation
    slots = 1 + 4 + 1 + 1  # title, 4 tags, the date and the code (they cost tokens; the enum is fixed)
    fitted = bounded(NOTE, skeleton_tokens=20, budget_tokens=100)
    props = fitted["properties"]
    assert props["title"]["maxLength"] == 8 <= spare // slots < 12  # the largest level that fits
    assert props["tags"]["maxItems"] == 4 and props["tags"]["items"]["maxLength"] == 8
    assert props["code"]["maxLength"] == 3  # the schema's own bound, smaller, stays
    assert "maxLength" not in props["level"] and "maxLength" not in props["day"]
    tight = bounded(NOTE, 20, 40)["properties"]  # fewer tags before shorter strings
    assert (tight["tags"]["maxItems"], tight["title"]["maxLength"]) == (1, 4)
    assert bounded(NOTE, 20, 10)["properties"]["title"]["maxLength"] == 1  # no budget: still a valid call
    assert bounded(NOTE, 20, 100_000) == NOTE  # past the largest bound: left as it is, nothing cut short
    assert NOTE["properties"]["title"] == {"type": "string"}  # a copy; the request is unchanged


def test_the_call_schema_is_bounded_only_with_a_budget_and_a_tokenizer() -> None:
    def tokens(text: str) -> int:
        return len(text) // 3

    assert json.loads(skeleton("note", NOTE))["arguments"].keys() == NOTE["properties"].keys()
    bound = call_schema(request(200), tokens)["$defs"]["tool0"]["properties"]["title"]
    assert bound == {"type": "string", "maxLength": 16}  # (200 - 29 - 4) // 7 slots is 23
    assert call_schema(request(None), tokens)["$defs"]["tool0"]["properties"]["title"] == {"type": "string"}
    assert call_schema(request(200))["$defs"]["tool0"]["properties"]["title"] == {"type": "string"}


@pytest.mark.parametrize(("cut", "closed"), [
    ('{"name": "note", "arguments": {"title": "Budget', '{"name": "note", "arguments": {"title": "Budget"}}'),
    ('{"name": "note", "arguments": {"title": "A", "tags": ["x", "y',
     '{"name": "note", "arguments": {"title": "A", "tags": ["x", "y"]}}'),
    ('{"a": 1, "b": {"c": "x", "d', '{"a": 1, "b": {"c": "x"}}'),
    ('{"a": {"b"', '{"a": {}}'),
    ('{"name": "w", "arguments": {"a": ', '{"name": "w", "arguments": {}}'),
    ('{"a": "ends in \\', '{"a": "ends in "}'),
    ('{"a": "x", "b": ', '{"a": "x"}'),
    ('{"na', None),
    ('{"a": 1}', None),
])
def test_close_json(cut: str, closed: str | None) -> None:
    assert close_json(cut) == closed


def test_a_cut_off_call_is_closed_when_its_arguments_still_match() -> None:
    text = '{"name": "note", "arguments": {"tags": ["a"], "title": "Budget meet'
    call = finished_call(text, request(), "length")
    assert json.loads(call["function"]["arguments"]) == {"tags": ["a"], "title": "Budget meet"}


def test_a_cut_off_call_missing_a_required_argument_is_a_400_not_text() -> None:
    text = '{"name": "note", "arguments": {"title": "A long ramble A.A.A.A.A.A'  # no tags yet
    with pytest.raises(InvalidRequest, match=r"max_tokens \(40\) ran out inside a tool call") as raised:
        finished_call(text, request(), "length")
    assert raised.value.param == "max_tokens"
    assert finished_call(text, request(), "stop") is None  # not cut off: text, as before


class CutThenGreedy(GeneratingBackend):
    """Sampling runs out inside the call's title; greedy decoding completes it, unless
    `greedy_completes` is False."""

    name = "cut-then-greedy"

    def __init__(self, greedy_completes: bool = True) -> None:
        self.greedy_completes = greedy_completes
        self.temperatures: list[float | None] = []

    @asynccontextmanager
    async def _session(self, request, chat):
        self.temperatures.append(request.temperature)
        greedy = request.temperature == 0 and self.greedy_completes
        text = '{"name": "note", "arguments": {"title": "ok", "tags": []}}' if greedy else '{"name": "no'
        stats = Generation(prompt_tokens=7, completion_tokens=11 if greedy else 40,
                           finish_reason="stop" if greedy else "length")

        async def pieces():
            yield text

        yield Run(pieces(), stats)


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_sampled_call_cut_off_is_generated_once_more_greedily(stream: bool) -> None:
    backend = CutThenGreedy()
    sampled = ChatCompletionRequest.model_validate({**request().model_dump(exclude_none=True), "temperature": 1.0,
                                                    "stream": stream, "stream_options": {"include_usage": True}})
    if stream:
        chunks = [chunk async for chunk in backend.chat_stream(sampled)]
        [call] = [c for chunk in chunks if chunk["choices"] for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
        usage = chunks[-1]["usage"]
    else:
        answer = await backend.chat(sampled)
        [call], usage = answer["choices"][0]["message"]["tool_calls"], answer["usage"]
    assert json.loads(call["function"]["arguments"]) == {"title": "ok", "tags": []}
    assert backend.temperatures == [1.0, 0.0] and usage["completion_tokens"] == 11  # the answer's own count
    always_cut = CutThenGreedy(greedy_completes=False)
    with pytest.raises(InvalidRequest, match="max_tokens"):
        await always_cut.chat(sampled)  # greedy ran out too: the 400, after two tries
    assert always_cut.temperatures == [1.0, 0.0]
