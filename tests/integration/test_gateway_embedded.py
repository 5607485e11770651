"""`aistack serve` on the embedded SmolLM2 model, driven by the official openai SDK and LangChain."""

from __future__ import annotations

import json
import socket
import time

import httpx
import openai
import pytest
from support.servers import ServerProcess

pytestmark = [pytest.mark.integration]
MODEL = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def sdk(embedded_gateway: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=embedded_gateway.url + "/v1", api_key="unused", max_retries=0)


def test_models(sdk: openai.OpenAI) -> None:
    assert [m.id for m in sdk.models.list()] == [MODEL]


def test_chat_is_deterministic_when_greedy_with_exact_usage(sdk: openai.OpenAI) -> None:
    first = sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=12, temperature=0)
    again = sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=12, temperature=0)
    assert first.choices[0].message.content and first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].finish_reason in ("stop", "length")
    assert first.usage.completion_tokens <= 12
    # 37 = SmolLM2's template (with its default system prompt) around the question, by its tokenizer
    assert first.usage.prompt_tokens == 37


def test_streaming_matches_non_streaming_and_reports_usage(sdk: openai.OpenAI) -> None:
    full = sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=16, temperature=0)
    stream = sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=16, temperature=0,
                                         stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == full.usage.prompt_tokens


def test_stop_sequence_and_seed(sdk: openai.OpenAI) -> None:
    base = sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=16, temperature=0)
    words = base.choices[0].message.content.split()
    assert len(words) > 2
    cut = sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=16, temperature=0, stop=[words[2]])
    assert words[2] not in cut.choices[0].message.content and cut.choices[0].finish_reason == "stop"
    seeded = [sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=10, temperature=1.0,
                                          top_p=0.9, seed=7).choices[0].message.content for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_json_object_response_format_always_parses(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model=MODEL, max_tokens=200, temperature=0, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Describe a cat as JSON with keys name and age."}],
    )
    if answer.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(answer.choices[0].message.content), dict)
    else:  # cut by max_tokens: still a JSON prefix that starts an object
        assert answer.choices[0].message.content.lstrip().startswith("{")


def test_completions_plain_and_streaming(sdk: openai.OpenAI) -> None:
    done = sdk.completions.create(model=MODEL, prompt="The sky is", max_tokens=8, temperature=0)
    assert done.choices[0].text and done.usage.completion_tokens <= 8
    streamed = "".join(c.choices[0].text for c in sdk.completions.create(
        model=MODEL, prompt="The sky is", max_tokens=8, temperature=0, stream=True) if c.choices)
    assert streamed == done.choices[0].text


def test_langchain_chat_openai_gets_an_answer(embedded_gateway: ServerProcess) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=embedded_gateway.url + "/v1", api_key="unused", model=MODEL,
                     max_tokens=16, temperature=0)
    reply = llm.invoke("Say hello.")
    assert isinstance(reply.content, str) and reply.content
    assert reply.usage_metadata["output_tokens"] > 0


def test_prompt_over_the_context_says_by_how_much(sdk: openai.OpenAI) -> None:
    long = [{"role": "user", "content": "word " * 1500}]
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model=MODEL, messages=long, max_tokens=5)
    error = info.value.body
    assert error["code"] == "context_length_exceeded"
    assert "maximum context length is 1024 tokens" in error["message"] and "over" in error["message"]
    with pytest.raises(openai.BadRequestError, match="requested"):
        sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=1020)
    assert sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=4).choices


def test_unknown_model_and_malformed_json_then_still_serving(sdk: openai.OpenAI, embedded_gateway: ServerProcess) -> None:
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        sdk.chat.completions.create(model="gpt-9", messages=QUESTION)
    bad = httpx.post(embedded_gateway.url + "/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    empty = httpx.post(embedded_gateway.url + "/v1/chat/completions", json={"model": MODEL, "messages": []})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "messages"
    assert sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=4).choices


def test_client_disconnect_stops_generation(sdk: openai.OpenAI, embedded_gateway: ServerProcess) -> None:
    """A greedy request known to run 300 tokens is streamed; the client hangs up after three
    chunks; the backend must log that it stopped long before 300."""
    request = {"model": MODEL, "max_tokens": 300, "temperature": 0, "prompt": "1, 2, 3, 4, 5,"}
    assert sdk.completions.create(**request).choices[0].finish_reason == "length"
    body = json.dumps({**request, "stream": True}).encode()
    raw = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"X-Request-ID: hangup-1\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", embedded_gateway.port)) as conn:
        conn.sendall(raw)
        received = b""
        while received.count(b"data: ") < 3:
            received += conn.recv(4096)
    cancelled = access = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (cancelled and access):
        for text in embedded_gateway.log().splitlines():
            if '"msg":"generation cancelled"' in text:
                cancelled = json.loads(text)
            if '"request_id":"hangup-1"' in text:
                access = json.loads(text)
        time.sleep(0.1)
    assert cancelled is not None, "the backend never stopped generating"
    assert cancelled["completion_tokens"] < 150
    assert access is not None and access["finish_reason"] == "cancelled"


def test_a_non_streaming_client_that_hangs_up_stops_generation(embedded_gateway: ServerProcess) -> None:
    """A greedy request that would run 1,000 tokens, not streamed: the client hangs up after a
    second, and the backend stops long before the end (it used to run on, holding the model)."""
    body = json.dumps({"model": MODEL, "max_tokens": 1000, "temperature": 0, "prompt": "1, 2, 3, 4, 5,"}).encode()
    raw = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"X-Request-ID: hangup-plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    before = embedded_gateway.log().count('"msg":"generation cancelled"')
    with socket.create_connection(("127.0.0.1", embedded_gateway.port)) as conn:
        conn.sendall(raw)
        time.sleep(1.0)
    access = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and access is None:
        lines = embedded_gateway.log().splitlines()
        access = next((json.loads(t) for t in lines if '"request_id":"hangup-plain"' in t), None)
        time.sleep(0.1)
    assert access is not None and access["finish_reason"] == "cancelled", access
    cancelled = [json.loads(t) for t in embedded_gateway.log().splitlines() if '"msg":"generation cancelled"' in t]
    assert len(cancelled) > before, "the backend never stopped generating"
    assert cancelled[-1]["completion_tokens"] < 500, cancelled[-1]


def test_full_model_queue_answers_429_and_the_rest_complete(embedded_gateway: ServerProcess) -> None:
    """The test profile runs 4 sequences and lets 4 requests wait: of 12 at once, 4 get 429."""
    import asyncio

    async def burst() -> list[httpx.Response]:
        body = {"model": MODEL, "prompt": "1, 2, 3,", "max_tokens": 48, "temperature": 0}
        async with httpx.AsyncClient(base_url=embedded_gateway.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/completions", json=body) for _ in range(12)))

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 8 + [429] * 4, statuses
    rejected = next(r for r in responses if r.status_code == 429)
    assert rejected.headers["retry-after"] == "1" and rejected.json()["error"]["code"] == "queue_full"
    assert all(r.json()["usage"]["completion_tokens"] == 48 for r in responses if r.status_code == 200)


def test_an_idle_connection_outlives_the_clients_keep_alive(embedded_gateway: ServerProcess) -> None:
    # httpx and the OpenAI SDK drop a connection idle for 5 s; the gateway must not close it first,
    # or a request sent on it as it closes is lost ("Server disconnected without sending a response")
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{embedded_gateway.port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", embedded_gateway.port), timeout=10) as connection:
        for idle in (0, 6):
            time.sleep(idle)
            connection.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):  # the whole answer: head and JSON body
                piece = connection.recv(65536)
                assert piece, f"closed after {idle} s idle"
                answer += piece
            assert answer.startswith(b"HTTP/1.1 200"), (idle, answer[:100])
