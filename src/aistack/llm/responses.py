"""OpenAI-shaped response objects, built by backends that generate text themselves."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@dataclass
class ResponseIds:
    """The id, model and timestamp shared by every object of one response."""

    model: str
    chat: bool
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if not self.id:
            self.id = f"{'chatcmpl' if self.chat else 'cmpl'}-{uuid.uuid4().hex}"

    def _base(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def completion(self, text: str, finish_reason: str, prompt: int, completion: int) -> dict[str, Any]:
        if self.chat:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            body = self._base("chat.completion")
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
            body = self._base("text_completion")
        body["choices"] = [choice]
        body["usage"] = usage(prompt, completion)
        return body

    def chunk(self, text: str | None, finish_reason: str | None = None, first: bool = False) -> dict[str, Any]:
        if self.chat:
            delta: dict[str, Any] = {"role": "assistant"} if first else {}
            if text is not None:
                delta["content"] = text
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            body = self._base("chat.completion.chunk")
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
            body = self._base("text_completion")
        body["choices"] = [choice]
        return body

    def tool_call_completion(self, call: dict[str, Any], prompt: int, completion: int) -> dict[str, Any]:
        body = self._base("chat.completion")
        body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                            "logprobs": None, "finish_reason": "tool_calls"}]
        body["usage"] = usage(prompt, completion)
        return body

    def tool_call_chunk(self, call: dict[str, Any]) -> dict[str, Any]:
        body = self._base("chat.completion.chunk")
        body["choices"] = [{"index": 0, "delta": {"tool_calls": [{"index": 0, **call}]}, "logprobs": None,
                            "finish_reason": None}]
        return body

    def usage_chunk(self, prompt: int, completion: int) -> dict[str, Any]:
        body = self._base("chat.completion.chunk" if self.chat else "text_completion")
        body["choices"] = []
        body["usage"] = usage(prompt, completion)
        return body


def model_card(model_id: str, owned_by: str, created: int = 0) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}
