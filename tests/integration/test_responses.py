"""The Responses API on the embedded model with clients nobody here wrote: the official `openai`
SDK (plain, streamed, a function tool round trip through previous_response_id, file_search over a
collection), the OpenAI Agents SDK running an agent with a function tool, and LangChain's ChatOpenAI
with use_responses_api."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest
from support.servers import ServerProcess

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m-instruct"
WEATHER = {"type": "function", "name": "get_weather", "description": "The current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIDES = ("The harbour of Port Veyra has two high tides a day. The ferry to the lighthouse leaves at 07:40 "
         "from pier 3, and the harbour master's office closes at 16:00.")
ORCHARD = ("The Lindqvist orchard grows eleven kinds of apple. Picking starts in the second week of September, "
           "and the cider press runs on Saturdays.")


@pytest.fixture
def sdk(embedded_gateway: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=embedded_gateway.url + "/v1", api_key="unused", max_retries=0)


def test_a_plain_response_from_the_sdk(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model=MODEL, input="Say hello in one word.", instructions="Be brief.",
                                    max_output_tokens=16, temperature=0)
    assert response.status in ("completed", "incomplete") and response.output_text
    assert response.usage.input_tokens > 0 and 0 < response.usage.output_tokens <= 16
    assert sdk.responses.retrieve(response.id).output_text == response.output_text


def test_a_streamed_response_comes_in_the_documented_order(sdk: openai.OpenAI) -> None:
    events = list(sdk.responses.create(model=MODEL, input="Name a colour.", max_output_tokens=12, temperature=0,
                                       stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          kinds[-1]] and kinds[-1] in ("response.completed", "response.incomplete")
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and events[-1].response.output_text == text


def test_a_function_tool_round_trip_through_previous_response_id(sdk: openai.OpenAI) -> None:
    called = sdk.responses.create(model=MODEL, input="What is the weather in Paris?", tools=[WEATHER],
                                  tool_choice="required", max_output_tokens=64, temperature=0)
    [call] = [item for item in called.output if item.type == "function_call"]
    assert call.name == "get_weather" and isinstance(json.loads(call.arguments)["city"], str)
    answered = sdk.responses.create(
        model=MODEL, previous_response_id=called.id, tools=[WEATHER], tool_choice="none", max_output_tokens=32,
        temperature=0, input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18 C and sunny"}])
    assert answered.output_text and answered.previous_response_id == called.id
    # the second response answered the whole chain: the question, the call, its output (newest first)
    items = sdk.responses.input_items.list(answered.id).data
    assert [item.type for item in items] == ["function_call_output", "function_call", "message"]
    assert items[1].call_id == call.call_id and items[2].content[0].text == "What is the weather in Paris?"


def test_text_format_json_schema_always_parses(sdk: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 20},
                                               "warm": {"type": "boolean"}},
              "required": ["colour", "warm"], "additionalProperties": False}
    response = sdk.responses.create(model=MODEL, input="Name a colour and say whether it is warm.",
                                    max_output_tokens=48, temperature=0,
                                    text={"format": {"type": "json_schema", "name": "colour", "schema": schema}})
    answer = json.loads(response.output_text)  # grammar-constrained on the embedded model
    assert set(answer) == {"colour", "warm"} and isinstance(answer["warm"], bool)
    assert response.text.format.type == "json_schema"


def test_file_search_cites_the_file_that_holds_the_answer(sdk: openai.OpenAI, embedded_gateway: ServerProcess) -> None:
    with httpx.Client(base_url=embedded_gateway.url, timeout=120) as http:
        assert http.post("/v1/collections", json={"name": "responses-docs"}).status_code in (201, 409)
        for title, text in (("port-veyra.md", TIDES), ("orchard.md", ORCHARD)):
            assert http.post("/v1/collections/responses-docs/documents",
                             json={"text": text, "title": title}).status_code == 200
    response = sdk.responses.create(
        model=MODEL, input="When does the ferry to the lighthouse leave?", max_output_tokens=48, temperature=0,
        tools=[{"type": "file_search", "vector_store_ids": ["responses-docs"]}], include=["file_search_call.results"])
    search, message = response.output[0], response.output[1]
    assert search.type == "file_search_call" and search.queries == ["When does the ferry to the lighthouse leave?"]
    assert search.results[0].filename == "port-veyra.md" and "07:40" in search.results[0].text
    annotations = message.content[0].annotations
    assert annotations[0].type == "file_citation" and annotations[0].filename == "port-veyra.md"

    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model=MODEL, input="x", tools=[{"type": "file_search", "vector_store_ids": ["no-such"]}])


def test_bad_requests_get_openai_errors_from_the_sdk(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as unknown_item:
        sdk.responses.create(model=MODEL, input=[{"type": "reasoning", "summary": []}])
    assert unknown_item.value.body["param"] == "input[0].type"
    with pytest.raises(openai.BadRequestError) as built_in:
        sdk.responses.create(model=MODEL, input="hi", tools=[{"type": "web_search"}])
    assert "web_search" in built_in.value.message
    with pytest.raises(openai.NotFoundError) as previous:
        sdk.responses.create(model=MODEL, input="hi", previous_response_id="resp_nope")
    assert previous.value.body["param"] == "previous_response_id"


def test_the_agents_sdk_runs_an_agent_with_a_function_tool(embedded_gateway: ServerProcess) -> None:
    from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # no trace upload: nothing outside this machine is reached
    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        asked.append(city)
        return f"It is 18 C and sunny in {city}."

    async def both() -> tuple[Any, Any]:
        # one loop for the client's whole life, closed on it: a client left to the collector closes
        # its connections on whatever loop runs then, and fails there
        async with openai.AsyncOpenAI(base_url=embedded_gateway.url + "/v1", api_key="unused", max_retries=0) as client:
            model = OpenAIResponsesModel(model=MODEL, openai_client=client)
            # The 135M model calls the tool again on every turn it may, so the run ends on the tool's
            # result; the tool-less agent below shows a final output the model wrote itself.
            agent = Agent(name="weather", instructions="Answer with the tool's result.", tools=[get_weather],
                          model=model, model_settings=ModelSettings(tool_choice="required", temperature=0, max_tokens=64),
                          tool_use_behavior="stop_on_first_tool")
            writer = Agent(name="writer", instructions="Answer in one short sentence.", model=model,
                           model_settings=ModelSettings(temperature=0, max_tokens=256))
            return (await Runner.run(agent, "What is the weather in Paris?", max_turns=4),
                    await Runner.run(writer, "Name a primary colour.", max_turns=1))

    result, answer = asyncio.run(both())
    assert asked and result.final_output == f"It is 18 C and sunny in {asked[0]}."
    assert [item.type for item in result.new_items] == ["tool_call_item", "tool_call_output_item"]
    assert isinstance(answer.final_output, str) and answer.final_output.strip()
    assert answer.raw_responses[0].usage.output_tokens > 0


def test_langchain_over_the_responses_api(embedded_gateway: ServerProcess) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model=MODEL, base_url=embedded_gateway.url + "/v1", api_key="unused", max_retries=0,
                      use_responses_api=True, temperature=0, max_tokens=16)
    reply = chat.invoke("Name a colour.")
    assert str(reply.text).strip() and reply.usage_metadata["output_tokens"] > 0
    assert reply.response_metadata.get("id", "").startswith("resp_")
