"""The LLM seam's contract: every backend's tests inherit this class and provide `backend`
(an async fixture yielding a started backend) and `model` (a model it serves)."""

from __future__ import annotations

from typing import Any

import pytest

from aistack.errors import AistackError
from aistack.llm.protocol import ChatCompletionRequest, CompletionRequest

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def chat(model: str, **extra: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": model, "messages": QUESTION, "max_tokens": 12,
                                                 "temperature": 0, **extra})


def assert_usage(usage: dict[str, int]) -> None:
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.anyio
class LLMContract:
    checks_model_names = True
    streams_usage = True

    async def test_lists_models(self, backend, model: str) -> None:
        models = await backend.models()
        assert model in [m["id"] for m in models]
        assert all(m["object"] == "model" for m in models)

    async def test_health(self, backend) -> None:
        details = await backend.health()
        assert details["backend"] == backend.name

    async def test_chat(self, backend, model: str) -> None:
        result = await backend.chat(chat(model))
        assert result["object"] == "chat.completion"
        message = result["choices"][0]["message"]
        assert message["role"] == "assistant" and isinstance(message["content"], str) and message["content"]
        assert_usage(result["usage"])

    async def test_stream_equals_non_stream_and_ends_with_usage(self, backend, model: str) -> None:
        whole = await backend.chat(chat(model))
        chunks = [c async for c in backend.chat_stream(
            chat(model, stream=True, stream_options={"include_usage": True}))]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == whole["choices"][0]["message"]["content"]
        if self.streams_usage:
            assert chunks[-1]["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]
        assert any(c["choices"] and c["choices"][0]["finish_reason"] for c in chunks)

    async def test_completion_and_stream(self, backend, model: str) -> None:
        request = {"model": model, "prompt": "The sky is", "max_tokens": 6, "temperature": 0}
        whole = await backend.complete(CompletionRequest.model_validate(request))
        assert whole["object"] == "text_completion"
        assert_usage(whole["usage"])
        chunks = [c async for c in backend.complete_stream(CompletionRequest.model_validate({**request, "stream": True}))]
        assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == whole["choices"][0]["text"]

    async def test_unknown_model_is_404(self, backend) -> None:
        if not self.checks_model_names:
            pytest.skip("this backend serves any model name with its one model")
        with pytest.raises(AistackError) as info:
            await backend.chat(chat("no-such-model"))
        assert info.value.status == 404
