"""What one request may ask of the gateway (issue 20, item 6), through a real `aistack serve` in
front of a recording OpenAI-compatible upstream: unknown fields are logged and never forwarded,
booleans are strict, max_tokens has a ceiling, images come by URL only, embeddings requests are
bounded, and a body that never arrives is a 408 that frees the request."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from support.http_stub import JsonHandler, serve
from support.servers import ServerProcess, start_gateway

pytestmark = pytest.mark.integration
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class Recorder(JsonHandler):
    seen: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_json({"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]})

    def do_POST(self) -> None:  # noqa: N802
        Recorder.seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_json(ANSWER)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    upstream, url = serve(Recorder)
    env = {"AISTACK_LLM__BACKEND": "openai", "AISTACK_LLM__OPENAI__BASE_URL": url + "/v1",
           "AISTACK_SERVER__BODY_TIMEOUT": "1", "AISTACK_EMBEDDINGS__MAX_INPUTS": "8",
           "AISTACK_EMBEDDINGS__MAX_REQUEST_TOKENS": "64"}
    with start_gateway(env, tmp_path_factory.mktemp("limits")) as server:
        yield server
    upstream.shutdown()
    upstream.server_close()


def post(gateway: ServerProcess, path: str, body: dict) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, timeout=30)


def test_unknown_fields_are_logged_and_never_forwarded(gateway: ServerProcess) -> None:
    extra = {"best_of": 5, "ignore_eos": True, "prompt_logprobs": 3, "guided_json": {"type": "object"}, "logprobs": True}
    answered = post(gateway, "/v1/chat/completions", {**CHAT, **extra})
    assert answered.status_code == 200, answered.text
    forwarded = Recorder.seen[-1]
    assert not {"best_of", "ignore_eos", "prompt_logprobs", "guided_json"} & set(forwarded), forwarded
    assert forwarded["logprobs"] is True and forwarded["messages"] == CHAT["messages"]  # OpenAI's own field passes
    deadline = time.monotonic() + 5  # the access line is written as the response ends: just after the client has it
    while '"ignored_fields"' not in gateway.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    access = next(json.loads(line) for line in reversed(gateway.log().splitlines()) if '"ignored_fields"' in line)
    assert access["ignored_fields"] == ["best_of", "guided_json", "ignore_eos", "prompt_logprobs"]


@pytest.mark.parametrize(("change", "param"), [
    ({"stream": "yes"}, "stream"),
    ({"stream_options": {"include_usage": "no"}, "stream": True}, "stream_options.include_usage"),
    ({"max_tokens": 10**12}, "max_tokens"),
    ({"max_completion_tokens": 10**7}, "max_completion_tokens"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]}, "messages.0.content.0"),
])
def test_loose_values_are_refused_before_the_upstream(gateway: ServerProcess, change: dict, param: str) -> None:
    before = len(Recorder.seen)
    refused = post(gateway, "/v1/chat/completions", {**CHAT, **change})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == param, refused.text
    assert len(Recorder.seen) == before


def test_embeddings_requests_are_bounded_with_the_limit_named(gateway: ServerProcess) -> None:
    many = post(gateway, "/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": ["a"] * 9})
    assert many.status_code == 400 and "embeddings.max_inputs" in many.json()["error"]["message"]
    long = post(gateway, "/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": ["word " * 80]})
    assert long.status_code == 400 and "at most 64 per request" in long.json()["error"]["message"]
    fits = post(gateway, "/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": ["GPU passthrough"]})
    assert fits.status_code == 200 and len(fits.json()["data"][0]["embedding"]) == 384


def read_response(conn: socket.socket) -> str:
    """The whole response: its headers and body can come in separate packets."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < content_length(data):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


def content_length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_body_that_never_arrives_is_a_408_and_frees_the_request(gateway: ServerProcess) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"model\":")
        answer = read_response(conn)
    assert answer.startswith("HTTP/1.1 408"), answer[:200]
    assert "server.body_timeout" in answer and time.monotonic() - started < 5
    assert httpx.get(gateway.url + "/health", timeout=5).status_code == 200


