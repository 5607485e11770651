"""Gateway control flow on the fake backend: auth, limits, errors, queueing, request ids, logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from support.gateway import CHAT, client_for, make_settings

from aistack.container import Container
from aistack.gateway.app import create_app

pytestmark = [pytest.mark.unit, pytest.mark.anyio]
@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    http, container = await client_for(make_settings())
    yield http
    await container.close()


def assert_openai_error(response: httpx.Response, status: int, **fields: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    for key, value in fields.items():
        assert error[key] == value, error
    return error


async def test_chat_returns_openai_shape_with_usage(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/chat/completions", json=CHAT)).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "one two three"}
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


async def test_stream_sends_usage_only_when_asked(client: httpx.AsyncClient) -> None:
    def events(text: str) -> list[Any]:
        return [line[6:] for line in text.splitlines() if line.startswith("data: ")]

    plain = events((await client.post("/v1/chat/completions", json={**CHAT, "stream": True})).text)
    assert plain[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in plain[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "one two three"
    assert all("usage" not in c for c in chunks)

    asked = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    last = orjson.loads(events((await client.post("/v1/chat/completions", json=asked)).text)[-2])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 3


async def test_completions_and_models(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/completions", json={"model": "fake", "prompt": "say"})).json()
    assert body["object"] == "text_completion" and body["choices"][0]["text"] == "one two three"
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["fake"]
    assert (await client.get("/v1/models/fake")).json()["id"] == "fake"
    assert_openai_error(await client.get("/v1/models/nope"), 404, code="model_not_found")


@pytest.mark.parametrize(
    ("body", "status", "param", "needle"),
    [
        (b"{bad json", 400, None, "could not parse the JSON body"),
        (b"[1, 2]", 400, None, "must be a JSON object"),
        (orjson.dumps({"model": "fake", "messages": []}), 400, "messages", "at least 1 item"),
        (orjson.dumps({"model": "fake"}), 400, "messages", "Field required"),
        (orjson.dumps({**CHAT, "temperature": 5}), 400, "temperature", "less than or equal to 2"),
        (orjson.dumps({**CHAT, "n": 2}), 400, "n", "less than or equal to 1"),
        (orjson.dumps({**CHAT, "model": "nope"}), 404, "model", "'nope' does not exist. Available models: fake"),
    ],
)
async def test_bad_input_gets_the_documented_error_and_the_server_keeps_serving(
    client: httpx.AsyncClient, body: bytes, status: int, param: str | None, needle: str
) -> None:
    error = assert_openai_error(await client.post("/v1/chat/completions", content=body), status, param=param)
    assert needle in error["message"]
    assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_oversized_body_gets_413_with_or_without_content_length() -> None:
    http, container = await client_for(make_settings(max_body_bytes=2048))
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
    assert_openai_error(await http.post("/v1/chat/completions", json=big), 413, code="request_too_large")

    async def chunked() -> AsyncIterator[bytes]:
        data = orjson.dumps(big)
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    assert_openai_error(await http.post("/v1/chat/completions", content=chunked()), 413)
    small = orjson.dumps(CHAT)

    async def small_chunked() -> AsyncIterator[bytes]:
        yield small

    assert (await http.post("/v1/chat/completions", content=small_chunked())).status_code == 200
    await container.close()


async def test_api_keys_from_settings_and_file(tmp_path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("from-file\n")
    settings = make_settings(api_keys=[SecretStr("inline")], api_keys_file=key_file)
    http, container = await client_for(settings)
    assert_openai_error(await http.get("/v1/models"), 401, type="authentication_error")
    wrong = await http.get("/v1/models", headers={"Authorization": "Bearer wrong"})
    assert_openai_error(wrong, 401, code="invalid_api_key")
    for key in ("inline", "from-file"):
        assert (await http.get("/v1/models", headers={"Authorization": f"Bearer {key}"})).status_code == 200
    assert (await http.get("/health")).status_code == 200  # probes need no key
    await container.close()


async def test_full_queue_answers_429_with_retry_after() -> None:
    settings = make_settings()
    settings.llm.fake.delay = 0.2  # 3 tokens: 0.6 s per request; one runs, one waits (max_queue 1)
    http, container = await client_for(settings)
    responses = await asyncio.gather(*(http.post("/v1/chat/completions", json=CHAT) for _ in range(3)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 429]
    rejected = next(r for r in responses if r.status_code == 429)
    assert rejected.headers["retry-after"] == "1"
    assert_openai_error(rejected, 429, type="rate_limit_error", code="queue_full")
    await container.close()


async def test_request_id_is_returned_and_logged(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aistack.access")
    given = await client.post("/v1/chat/completions", json=CHAT, headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = await client.get("/v1/models")
    assert len(generated.headers["x-request-id"]) == 32
    line = next(r.fields for r in caplog.records if r.fields.get("request_id") == "abc-123")
    assert line["model"] == "fake" and line["status"] == 200
    assert line["prompt_tokens"] == 2 and line["completion_tokens"] == 3
    assert line["latency_ms"] >= 0 and line["path"] == "/v1/chat/completions"


async def test_streamed_tokens_are_logged_even_when_usage_not_asked(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aistack.access")
    await client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers={"X-Request-ID": "s1"})
    line = next(r.fields for r in caplog.records if r.fields.get("request_id") == "s1")
    assert line["completion_tokens"] == 3 and line["finish_reason"] == "stop"


async def test_ready_reports_the_backend(client: httpx.AsyncClient) -> None:
    ready = (await client.get("/ready")).json()
    assert ready["status"] == "ready" and ready["llm"] == {"backend": "fake"}
    assert ready["vectorstore"] == {"backend": "qdrant"}  # no path or address: those are internal


def test_every_operation_that_takes_a_body_declares_it_in_openapi() -> None:
    spec = create_app(Container(make_settings())).openapi()
    without_body = {("post", "/v1/admin/rollback"), ("post", "/v1/admin/nginx"),  # these take none
                    ("post", "/v1/admin/keys/{key_id}/rotate"), ("post", "/v1/admin/keys/{key_id}/revoke")}
    undeclared = [(method, path) for path, operations in spec["paths"].items() for method, op in operations.items()
                  if method in ("post", "put", "patch") and "requestBody" not in op]
    assert sorted(undeclared) == sorted(without_body)
    chat = spec["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"model", "messages", "tools", "response_format"} <= set(chat["properties"])
    upload = spec["paths"]["/v1/collections/{name}/documents"]["post"]["requestBody"]["content"]
    assert set(upload) == {"application/json", "multipart/form-data"}


def test_every_v1_operation_declares_its_errors_in_the_openai_shape() -> None:
    spec = create_app(Container(make_settings())).openapi()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in operations.items():
            for status in ("400", "401", "404", "429", "503"):
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


@pytest.mark.parametrize("token", ["\xa0", "  ", "", None])
def test_a_blank_key_never_authenticates(token: str | None, tmp_path) -> None:
    from aistack.access.service import AccessService
    from aistack.access.store import AccessStore
    from aistack.errors import AuthenticationFailed

    store = AccessStore(tmp_path / "access.db")
    for keys in ([""], ["", "real-key"], [" "]):  # a blank configured key is dropped, never matched
        with pytest.raises(AuthenticationFailed):
            AccessService(store, keys, [], mode="keys").authenticate(token)
    assert AccessService(store, ["", "real-key"], []).authenticate("real-key").team == "default"


async def test_an_unexpected_error_is_a_500_that_shows_no_internals() -> None:
    container = Container(make_settings())
    await container.start()
    app = create_app(container)

    async def broken() -> None:
        raise RuntimeError("connection to server at 10.20.30.40, port 5432 failed: password=hunter2")

    app.add_api_route("/v1/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/v1/broken", headers={"X-Request-ID": "req-42"})
        error = assert_openai_error(response, 500, type="server_error")
        assert error["message"] == "internal error (request req-42): the gateway log has the details"
        assert "10.20.30.40" not in response.text and "hunter2" not in response.text
    finally:
        await container.close()


async def test_docs_openapi_ready_and_metrics_name_no_internal_address() -> None:
    from support.servers import free_port

    from aistack.settings.model import LLMSettings, OpenAIUpstreamSettings

    upstream = f"127.0.0.1:{free_port()}"  # nothing listens: the upstream is down
    settings = make_settings()
    settings.llm = LLMSettings(backend="openai", openai=OpenAIUpstreamSettings(base_url=f"http://{upstream}/v1",
                                                                              retries=0, connect_timeout=1))
    http, container = await client_for(settings)
    try:
        pages = {path: await http.get(path) for path in ("/docs", "/openapi.json", "/ready", "/metrics")}
        chat = await http.post("/v1/chat/completions", json={**CHAT, "model": "m"})
    finally:
        await container.close()
    assert pages["/docs"].status_code == 200 and pages["/ready"].status_code == 503 and chat.status_code == 502
    for path, page in [*pages.items(), ("chat", chat)]:
        assert upstream not in page.text, path
