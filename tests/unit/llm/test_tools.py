"""How tool turns are written for templates without tool roles, and what counts as a call."""

from __future__ import annotations

import json

import pytest

from aistack.llm.protocol import ChatCompletionRequest
from aistack.llm.grammars import source_for, to_gbnf
from aistack.llm.tools import messages_for, parse_call

pytestmark = pytest.mark.unit
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def request(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "tools": [TOOL], **fields})


def test_tool_turns_become_text_and_the_tools_a_system_message() -> None:
    messages = messages_for(request(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                               "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 C"}]))
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("Be brief.\n\nYou can call")
    assert '"name": "get_weather"' in messages[0]["content"]
    assert messages[2] == {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'}
    assert messages[3] == {"role": "user", "content": "Result of get_weather: 18 C"}
    plain = messages_for(request(messages=[{"role": "user", "content": "hi"}], tool_choice="none"))
    assert plain == [{"role": "user", "content": "hi"}]


def test_what_counts_as_a_call() -> None:
    auto = request(messages=[{"role": "user", "content": "hi"}])
    call = parse_call('{"name": "get_weather", "arguments": {"city": "Oslo"}}', auto)
    assert call["function"] == {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}
    assert parse_call("It is sunny.", auto) is None
    assert parse_call('{"name": "other", "arguments": {}}', auto) is None
    assert parse_call('{"name": "get_weather", "argu', auto) is None  # cut by max_tokens: text
    auto_grammar = to_gbnf(source_for(auto))
    assert auto_grammar.count("root ::=") == 1 and "call | text" in auto_grammar
    required = request(messages=[{"role": "user", "content": "hi"}], tool_choice="required")
    assert "call | text" not in to_gbnf(source_for(required))


def test_tool_refs_are_rebased_to_where_the_parameters_sit() -> None:
    nested = {"type": "function", "function": {"name": "book", "parameters": {
        "type": "object", "properties": {"when": {"$ref": "#/$defs/Slot"}},
        "$defs": {"Slot": {"type": "object", "properties": {"day": {"type": "string"}}}}}}}
    one = request(messages=[{"role": "user", "content": "hi"}], tools=[nested], tool_choice="required")
    assert "day" in to_gbnf(source_for(one))  # the converter resolved the ref
    both = request(messages=[{"role": "user", "content": "hi"}], tools=[TOOL, nested])
    assert "day" in to_gbnf(source_for(both))
