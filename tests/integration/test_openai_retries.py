"""The `openai` backend retries connection errors only: a request the upstream saw is never sent
twice. A real aiohttp server on loopback counts what arrives."""

from __future__ import annotations

import pytest
from aiohttp import web
from servers import free_port

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
    backend = OpenAICompatBackend(settings)
    try:
        with pytest.raises(error, match="boom"):
            await backend.chat(REQUEST)
        assert len(seen) == 1
        assert seen[0]["messages"] == [{"role": "user", "content": "hi"}]
    finally:
        await backend.close()
        await runner.cleanup()


async def test_connection_refused_is_retried_then_502() -> None:
    settings = Settings()
    settings.llm.openai.base_url = f"http://127.0.0.1:{free_port()}/v1"
    settings.llm.openai.retries = 2
    backend = OpenAICompatBackend(settings)
    try:
        with pytest.raises(UpstreamError, match="unreachable") as info:
            await backend.chat(REQUEST)
        assert info.value.status == 502
    finally:
        await backend.close()
