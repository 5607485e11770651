"""The grammar path's guards: schema bounds named by field, and a helper whose crash or hang is an
answer, not the gateway's death (real child processes; the llama.cpp parse itself is tested in
tests/integration/test_grammar_safety.py)."""

from __future__ import annotations

import os
import sys

import pytest

from aistack.errors import InvalidRequest
from aistack.llm.grammars import MAX_REPEAT, GrammarHelper, GrammarSource, check_schema, source_for
from aistack.llm.protocol import ChatCompletionRequest

pytestmark = pytest.mark.unit
SOURCE = GrammarSource("schema", '{"type": "string"}', "response_format")


def chat(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields})


@pytest.mark.parametrize(("schema", "param"), [
    ({"type": "string", "maxLength": MAX_REPEAT + 1}, "s.maxLength"),
    ({"type": "object", "properties": {"bio": {"type": "string", "minLength": 5000}}}, "s.properties.bio.minLength"),
    ({"type": "array", "items": {"type": "array", "maxItems": 10**12}}, "s.items.maxItems"),
    ({"anyOf": [{"type": "string"}, {"type": "string", "pattern": "^a{2,5000}$"}]}, "s.anyOf[1].pattern"),
    ({"$defs": {"x": {"type": "string"}}, "$ref": "https://example.invalid/schema.json"}, "s.$ref"),
])
def test_schemas_past_the_bounds_are_refused_naming_the_field(schema: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_schema(schema, "s")
    assert refused.value.param == param and refused.value.status == 400


def test_schemas_within_the_bounds_pass_however_deep() -> None:
    deep: dict = {"type": "string", "maxLength": MAX_REPEAT, "pattern": "^[a-z]{1,1000}$"}
    for _ in range(5000):  # deeper than Python's recursion limit: the walk is iterative
        deep = {"type": "array", "items": deep}
    check_schema(deep, "s")
    check_schema({"type": "string", "maxLength": True, "minLength": "9999"}, "s")  # not counts: the converter's call


def test_tool_parameters_are_named_by_tool_index() -> None:
    tools = [{"type": "function", "function": {"name": "ok", "parameters": {"type": "object"}}},
             {"type": "function", "function": {"name": "long", "parameters": {
                 "type": "object", "properties": {"text": {"type": "string", "maxLength": 3000}}}}}]
    with pytest.raises(InvalidRequest) as refused:
        source_for(chat(tools=tools))
    assert refused.value.param == "tools[1].function.parameters.properties.text.maxLength"
    only_ok = source_for(chat(tools=tools, tool_choice={"type": "function", "function": {"name": "ok"}}))
    assert only_ok is not None and only_ok.kind == "tools"  # a tool that cannot be called is not checked


def test_a_helper_that_crashes_is_an_error_and_is_started_again() -> None:
    helper = GrammarHelper(command=[sys.executable, "-c", "import ctypes; ctypes.string_at(0)"])
    try:
        assert helper.build("model.gguf", SOURCE) == {"error": "llama.cpp's grammar parser crashed on it"}
        assert helper.process._proc is None  # reaped, not left a zombie
        assert "crashed" in helper.build("model.gguf", SOURCE)["error"]
    finally:
        helper.close()


def test_a_helper_that_hangs_times_out_and_its_group_is_killed() -> None:
    helper = GrammarHelper(timeout=0.5, command=[sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        helper.process._running()
        pid = helper.process._proc.pid
        result = helper.build("model.gguf", SOURCE)
        assert result["error"].startswith("building it took longer") and result["transient"]
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    finally:
        helper.close()
