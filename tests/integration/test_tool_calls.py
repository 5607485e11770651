"""Tool calling on the embedded model through the gateway: grammar-constrained calls that always
parse, with the official SDK (plain and streaming) and LangChain's bind_tools; a tool result fed
back; calls that complete inside a small max_tokens; and bad tool requests answered with 400."""

from __future__ import annotations

import json

import openai
import pytest
from support.servers import ServerProcess

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m-instruct"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PROMQL = {"type": "function", "function": {
    "name": "query_prometheus", "description": "Run a PromQL query and return the result",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                                                     "minutes": {"type": "integer"}}, "required": ["query"]}}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture
def sdk(embedded_gateway: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=embedded_gateway.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "query_prometheus"}}])
def test_the_135m_model_emits_a_valid_call(sdk: openai.OpenAI, choice: object) -> None:
    reply = sdk.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER, PROMQL], tool_choice=choice,
                                        max_tokens=64, temperature=0)
    choice_ = reply.choices[0]
    assert choice_.finish_reason == "tool_calls" and choice_.message.content is None
    [call] = choice_.message.tool_calls
    arguments = json.loads(call.function.arguments)  # always valid JSON: the grammar allows nothing else
    expected = "query_prometheus" if isinstance(choice, dict) else call.function.name
    assert call.function.name == expected and call.function.name in ("get_weather", "query_prometheus")
    required = "city" if call.function.name == "get_weather" else "query"
    assert isinstance(arguments[required], str) and call.id.startswith("call_")


def test_a_streamed_call_and_the_result_fed_back(sdk: openai.OpenAI) -> None:
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="required",
                                              max_tokens=64, temperature=0, stream=True))
    calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or []) if chunk.choices]
    assert len(calls) == 1 and calls[0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    call = calls[0]
    answer = sdk.chat.completions.create(model=MODEL, max_tokens=32, temperature=0, tools=[WEATHER], messages=[
        *ASK, {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}], tool_choice="none")
    assert answer.choices[0].finish_reason in ("stop", "length") and answer.choices[0].message.content


def test_langchain_bind_tools(embedded_gateway: ServerProcess) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return "sunny"

    chat = ChatOpenAI(base_url=embedded_gateway.url + "/v1", api_key="unused", model=MODEL, temperature=0,
                      max_tokens=64, max_retries=0)
    message = chat.bind_tools([get_weather], tool_choice="required").invoke("What is the weather in Paris?")
    [call] = message.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)


FETCH = {"type": "function", "function": {
    "name": "fetch_page", "description": "Fetch a web page by its full URL",
    "parameters": {"type": "object", "properties": {"url": {"type": "string"}, "reason": {"type": "string"}},
                   "required": ["url", "reason"]}}}
NOTE = {"type": "function", "function": {
    "name": "write_note", "description": "Save a note with a title, a body and tags",
    "parameters": {"type": "object", "properties": {"title": {"type": "string"}, "body": {"type": "string"},
                                                     "tags": {"type": "array", "items": {"type": "string"}}},
                   "required": ["title", "body", "tags"]}}}
RAMBLE = ["Fetch the documentation page about Proxmox GPU passthrough and summarise it in detail.",
          "Write a long note about everything said in the budget meeting, with many tags.",
          "Read https://example.com/a/very/long/path/to/some/document/with/many/segments?x=1&y=2",
          "What is the weather in Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch?",
          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA repeat that forever"]


def test_required_calls_always_complete_inside_a_small_budget(sdk: openai.OpenAI) -> None:
    """50 calls at max_tokens 32 to 64, sampled at temperature 1 to make the model ramble, 4 at a
    time (the engine batches them): before the bounds, 11 of 20 ran out inside a string and came
    back as text with no call."""
    from concurrent.futures import ThreadPoolExecutor

    import jsonschema

    tools = [FETCH, NOTE, WEATHER]

    def call(i: int) -> None:
        # one tool a request (a shorter prompt), each for a run of 16 or 17 requests as an agent's turns
        # would be: the prompt's tools stay in llama.cpp's prefix cache, and budgets span 32-64 in each run
        tool = tools[i * 3 // 50]
        body = {"model": MODEL, "max_tokens": 32 + (i * 7) % 33, "temperature": 1.0, "seed": i, "tools": [tool],
                "tool_choice": "required", "messages": [{"role": "user", "content": RAMBLE[i % len(RAMBLE)]}]}
        if i % 5 == 4:
            chunks = list(sdk.chat.completions.create(**body, stream=True))
            calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or []) if chunk.choices]
            finish = chunks[-1].choices[0].finish_reason
        else:
            choice = sdk.chat.completions.create(**body).choices[0]
            calls, finish = choice.message.tool_calls or [], choice.finish_reason
        assert finish == "tool_calls" and len(calls) == 1, (i, body["max_tokens"], finish)
        assert calls[0].function.name == tool["function"]["name"]
        jsonschema.validate(json.loads(calls[0].function.arguments), tool["function"]["parameters"])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(call, range(50)))  # re-raises the first failure


@pytest.mark.parametrize(("extra", "message"), [
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "not among the tools"),
    ({"tool_choice": "required"}, "needs tools"),
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools"),
    ({"tools": [WEATHER], "messages": [*ASK, {"role": "tool", "content": "x"}]}, "tool_call_id"),
])
def test_bad_tool_requests_are_400(sdk: openai.OpenAI, extra: dict, message: str) -> None:
    body = {"model": MODEL, "messages": ASK, "max_tokens": 8, **extra}
    with pytest.raises(openai.BadRequestError, match=message):
        sdk.chat.completions.create(**body)
