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
