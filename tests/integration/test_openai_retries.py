"""The `openai` backend retries connection errors only: a request the upstream saw is never sent
twice. A real aiohttp server on loopback counts what arrives."""

from __future__ import annotations

import pytest
from aiohttp import web
from support.servers import free_port

from aistack.errors import UpstreamError, UpstreamRejected
from aistack.llm.openai_compat import OpenAICompatBackend
from aistack.llm.protocol import ChatCompletionRequest
from aistack.settings.model import Settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
REQUEST = ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize(("status", "error"), [(500, UpstreamError), (400, UpstreamRejected)])
async def test_an_answered_request_is_not_retried(status: int, error: type[Exception]) -> None:
    seen = []

    async def chat(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response({"error": {"message": "boom", "type": "x", "param": None, "code": None}},
                                 status=status)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = Settings()
    settings.llm.openai.base_url = f"http://127.0.0.1:{port}/v1"
    settings.llm.openai.retries = 3
    backend = OpenAICompatBackend.from_settings(settings)
    try:
        with pytest.raises(error) as raised:
            await backend.chat(REQUEST)
        if status >= 500:  # the upstream's own words and address go to the operator's log only
            assert raised.value.message == "the upstream model server failed with HTTP 500"
            assert "boom" in raised.value.detail and str(port) in raised.value.detail
        else:  # a 4xx is the client's to read: it passes through
            assert raised.value.message == "boom" and raised.value.status == 400
        assert len(seen) == 1
        assert seen[0]["messages"] == [{"role": "user", "content": "hi"}]
    finally:
        await backend.close()
        await runner.cleanup()


async def test_connection_refused_is_retried_then_502() -> None:
    settings = Settings()
    settings.llm.openai.base_url = f"http://127.0.0.1:{free_port()}/v1"
    settings.llm.openai.retries = 2
    backend = OpenAICompatBackend.from_settings(settings)
    try:
        with pytest.raises(UpstreamError, match="unreachable") as info:
            await backend.chat(REQUEST)
        assert info.value.status == 502
    finally:
        await backend.close()


async def test_a_pooled_connection_the_upstream_closed_is_retried_once_on_a_fresh_one() -> None:
    """An upstream that answers the first request of a connection and closes the connection when
    a second one arrives on it, without answering: what a keep-alive connection closed by the
    server looks like to a pooled client. The second chat goes to a fresh connection; it used to
    be a 502 ("Can not write request body" or "Server disconnected")."""
    import asyncio
    import json

    answer = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}).encode()
    connections = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        served = 0
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the client closed it
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            if served:  # the connection's second request: closed without a word
                writer.close()
                return
            served += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    settings = Settings()
    settings.llm.openai.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    settings.llm.openai.retries = 0  # the stale-connection retry is not a connection retry
    backend = OpenAICompatBackend.from_settings(settings)
    try:
        for _ in range(3):
            assert (await backend.chat(REQUEST))["choices"][0]["message"]["content"] == "hi"
        assert len(connections) >= 2  # a fresh connection after each closed one
    finally:
        await backend.close()
        server.close()
        await server.wait_closed()
