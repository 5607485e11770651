"""The Responses API's control flow on the fake backend, in process: the response object, the typed
event order, stored chains, tools, refusals and ownership. The real clients (the openai SDK, the
Agents SDK) against the embedded model are in tests/integration/test_responses.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from support.gateway import client_for, make_settings

from aistack.settings.model import FakeLLMSettings

pytestmark = [pytest.mark.unit, pytest.mark.anyio]
ADMIN = {"Authorization": "Bearer the-admin-key"}
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


async def gateway(reply: str = "one two three", admin: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings()
    settings.llm.fake = FakeLLMSettings(reply=reply, delay=0.0)
    if admin:
        settings.deploy.admin_keys = [SecretStr("the-admin-key")]
    http, container = await client_for(settings)
    yield http
    await container.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for http in gateway():
        yield http


@pytest.fixture
async def teams() -> AsyncIterator[httpx.AsyncClient]:
    async for http in gateway(admin=True):
        yield http


@pytest.fixture
async def caller_tool() -> AsyncIterator[httpx.AsyncClient]:
    async for http in gateway(CALL):
        yield http


def events(text: str) -> list[dict[str, Any]]:
    """The typed events, checking that each `event:` line names its data's type."""
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = orjson.loads(lines["data"])
        assert lines["event"] == data["type"]
        found.append(data)
    assert [e["sequence_number"] for e in found] == list(range(len(found)))
    return found


def text_of(response: dict[str, Any]) -> str:
    return "".join(part["text"] for item in response["output"] if item["type"] == "message"
                   for part in item["content"])


async def test_a_string_input_gets_a_completed_response_with_usage(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/responses", json={"model": "fake", "input": "hello there",
                                                      "instructions": "Be brief."})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "response" and body["id"].startswith("resp_") and body["status"] == "completed"
    assert body["output"][0]["type"] == "message" and body["output"][0]["role"] == "assistant"
    assert text_of(body) == "one two three"
    # the fake counts prompt words: the instructions and the input are both in the prompt
    assert body["usage"]["input_tokens"] == 4 and body["usage"]["output_tokens"] == 3
    assert body["usage"]["total_tokens"] == 7 and body["instructions"] == "Be brief."


async def test_the_stream_sends_typed_events_in_openais_order(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/responses", json={"model": "fake", "input": "hello", "stream": True})
    assert answer.headers["content-type"].startswith("text/event-stream")
    found = events(answer.text)
    assert [e["type"] for e in found] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    assert "".join(e["delta"] for e in found if e["type"] == "response.output_text.delta") == "one two three"
    final = found[-1]["response"]
    assert final["status"] == "completed" and text_of(final) == "one two three"
    assert final["usage"]["output_tokens"] == 3
    assert found[0]["response"]["status"] == "in_progress" and found[0]["response"]["output"] == []
    item_id = found[2]["item"]["id"]
    assert all(e["item_id"] == item_id for e in found[3:9]) and final["output"][0]["id"] == item_id
    stored = (await client.get(f"/v1/responses/{final['id']}")).json()
    assert stored["output"] == final["output"]


async def test_previous_response_id_continues_the_stored_conversation(client: httpx.AsyncClient) -> None:
    first = (await client.post("/v1/responses", json={"model": "fake", "input": "hello"})).json()
    second = (await client.post("/v1/responses", json={"model": "fake", "input": "and again",
                                                       "previous_response_id": first["id"]})).json()
    # hello + the answer's three words + and again
    assert second["usage"]["input_tokens"] == 6 and second["previous_response_id"] == first["id"]
    items = (await client.get(f"/v1/responses/{second['id']}/input_items")).json()["data"]
    assert [i.get("role") for i in items] == ["user", "assistant", "user"]  # newest first
    assert items[0]["content"] == [{"type": "input_text", "text": "and again"}] and items[0]["id"].startswith("msg_")
    assert items[1]["content"][0]["text"] == "one two three" and items[2]["content"][0]["text"] == "hello"

    deleted = await client.delete(f"/v1/responses/{first['id']}")
    assert deleted.json() == {"id": first["id"], "object": "response.deleted", "deleted": True}
    gone = await client.post("/v1/responses", json={"model": "fake", "input": "x", "previous_response_id": first["id"]})
    assert gone.status_code == 404 and gone.json()["error"]["param"] == "previous_response_id"
    assert (await client.get(f"/v1/responses/{first['id']}")).status_code == 404


async def test_parameters_sent_empty_are_not_refused(client: httpx.AsyncClient) -> None:
    body = {"model": "fake", "input": "hi", "reasoning": {"effort": None, "summary": None}, "background": False,
            "top_logprobs": None, "truncation": "disabled", "service_tier": "auto", "include": []}
    assert (await client.post("/v1/responses", json=body)).status_code == 200


async def test_store_false_keeps_nothing(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/responses", json={"model": "fake", "input": "hi", "store": False})).json()
    assert body["store"] is False and (await client.get(f"/v1/responses/{body['id']}")).status_code == 404


async def test_max_output_tokens_ends_the_response_incomplete(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/responses", json={"model": "fake", "input": "hi", "max_output_tokens": 2})).json()
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert text_of(body) == "one two" and body["usage"]["output_tokens"] == 2
    streamed = events((await client.post("/v1/responses", json={
        "model": "fake", "input": "hi", "max_output_tokens": 2, "stream": True})).text)
    assert streamed[-1]["type"] == "response.incomplete" and streamed[-1]["response"]["status"] == "incomplete"


async def test_a_function_call_and_its_output_round_trip(caller_tool: httpx.AsyncClient) -> None:
    asked = {"model": "fake", "input": "weather in Paris?", "tools": [WEATHER], "tool_choice": "required"}
    body = (await caller_tool.post("/v1/responses", json=asked)).json()
    [call] = body["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert orjson.loads(call["arguments"]) == {"city": "Paris"} and call["call_id"]

    answered = await caller_tool.post("/v1/responses", json={
        "model": "fake", "previous_response_id": body["id"],
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny and 22 C"}]})
    assert answered.status_code == 200, answered.text
    assert answered.json()["output"][0]["type"] == "message"  # no tools this time: the reply is text

    found = events((await caller_tool.post("/v1/responses", json={**asked, "stream": True})).text)
    kinds = [e["type"] for e in found]
    assert kinds[2] == "response.output_item.added" and found[2]["item"]["type"] == "function_call"
    assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert orjson.loads(found[-3]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize(("body", "param", "needle"), [
    ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0].type", "'computer_call_output'"),
    ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type", "'web_search' is not supported"),
    ({"input": "hi", "reasoning": {"effort": "high"}}, "reasoning", "do not reason"),
    ({"input": "hi", "background": True}, "background", "background responses"),
    ({"input": "hi", "frobnicate": 1}, "frobnicate", "not a Responses API parameter"),
    ({"input": "hi", "truncation": "auto"}, "truncation", "'disabled'"),
    ({"input": "hi", "include": ["reasoning.encrypted_content"]}, "include", "not supported"),
    ({"input": "hi", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice",
     "'nope'"),
    ({"input": "hi", "text": {"format": {"type": "json_schema"}}}, "text.format", "needs a name and a schema"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "/etc/passwd"}]}], },
     "input", "http(s) or data: URL"),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, "input.0.function_call_output.call_id",
     "Field required"),
    ({"input": "hi", "tools": [{"type": "file_search", "vector_store_ids": ["a", "b"]}]},
     "tools.0.file_search.vector_store_ids", "at most 1"),
])
async def test_what_aistack_cannot_honour_is_a_400_naming_the_parameter(
        client: httpx.AsyncClient, body: dict[str, Any], param: str, needle: str) -> None:
    answer = await client.post("/v1/responses", json={"model": "fake", **body})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and needle in error["message"], error
    assert (await client.post("/v1/responses", json={"model": "fake", "input": "hi"})).status_code == 200


async def test_another_teams_response_is_a_404_and_chat_scope_is_needed(teams: httpx.AsyncClient) -> None:
    client = teams
    for team in ("red", "blue"):
        assert (await client.post("/v1/admin/teams", json={"name": team}, headers=ADMIN)).status_code == 201

    async def key(team: str, scopes: list[str]) -> dict[str, str]:
        made = await client.post("/v1/admin/keys", json={"team": team, "scopes": scopes}, headers=ADMIN)
        return {"Authorization": f"Bearer {made.json()['secret']}"}

    red, blue, no_chat = await key("red", ["chat"]), await key("blue", ["chat"]), await key("red", ["embeddings"])
    made = (await client.post("/v1/responses", json={"model": "fake", "input": "red secret"}, headers=red)).json()
    for answer in (await client.get(f"/v1/responses/{made['id']}", headers=blue),
                   await client.get(f"/v1/responses/{made['id']}/input_items", headers=blue),
                   await client.delete(f"/v1/responses/{made['id']}", headers=blue),
                   await client.post("/v1/responses", headers=blue, json={
                       "model": "fake", "input": "tell me", "previous_response_id": made["id"]})):
        assert answer.status_code == 404, answer.text
        assert "red secret" not in answer.text
    assert (await client.get(f"/v1/responses/{made['id']}", headers=red)).status_code == 200
    refused = await client.post("/v1/responses", json={"model": "fake", "input": "hi"}, headers=no_chat)
    assert refused.status_code == 403 and "'chat' scope" in refused.json()["error"]["message"]
    assert (await client.get(f"/v1/responses/{made['id']}", headers=ADMIN)).status_code == 200


async def test_a_store_that_is_down_is_a_503_and_store_false_still_answers() -> None:
    settings = make_settings()
    settings.llm.fake = FakeLLMSettings(reply="one two three", delay=0.0)
    settings.responses.store_url = "postgresql://nobody@127.0.0.1:1/none"
    settings.responses.store_timeout = 1
    http, container = await client_for(settings)
    try:
        down = await http.post("/v1/responses", json={"model": "fake", "input": "hi"})
        assert down.status_code == 503 and "store: false" in down.json()["error"]["message"]
        assert "127.0.0.1" not in down.text
        kept_nothing = await http.post("/v1/responses", json={"model": "fake", "input": "hi", "store": False})
        assert kept_nothing.status_code == 200 and text_of(kept_nothing.json()) == "one two three"
        assert (await http.get("/v1/responses/resp_x")).status_code == 503
    finally:
        await container.close()
