"""The model an agent node calls: the in-process LLM seam (every backend) or a gateway over HTTP.
Both speak the OpenAI wire format, so tool calls come back the same way from each."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import httpx
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from aistack.errors import AistackError, BackendUnavailable, InvalidRequest
from aistack.llm.protocol import ChatCompletionRequest

Runner = Callable[[Coroutine[Any, Any, Any]], Any]  # runs a coroutine on the loop that owns the backend


class AgentModel(Protocol):
    def invoke(self, messages: list[BaseMessage], tools: list[dict[str, Any]], tool_choice: str) -> AIMessage: ...


ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def to_wire(message: BaseMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": ROLES[message.type], "content": message.text or None}
    if isinstance(message, AIMessage):
        calls = [{"id": c["id"], "type": "function",
                  "function": {"name": c["name"], "arguments": json.dumps(c["args"])}} for c in message.tool_calls]
        calls += [{"id": c["id"], "type": "function", "function": {"name": c["name"] or "unknown",
                                                                    "arguments": c["args"] or ""}}
                  for c in message.invalid_tool_calls]
        if calls:
            wire["tool_calls"] = calls
    elif isinstance(message, ToolMessage):
        wire["tool_call_id"] = message.tool_call_id
    if wire["content"] is None and wire["role"] != "assistant":
        wire["content"] = ""
    return wire


def from_wire(completion: dict[str, Any], offered_tools: bool = True) -> AIMessage:
    """An AIMessage; calls whose arguments do not parse are kept as invalid_tool_calls, and so is
    a call cut off at max_tokens (text starting with `{`), so the model hears about it."""
    choice = completion["choices"][0]
    message = choice["message"]
    calls, invalid = [], []
    content = message.get("content") or ""
    if offered_tools and not message.get("tool_calls") and choice.get("finish_reason") == "length" \
            and content.lstrip().startswith("{"):
        invalid.append({"name": None, "args": content[:200], "id": f"call_cut_{uuid.uuid4().hex[:12]}",
                        "error": "the call was cut off at max_tokens; make it shorter", "type": "invalid_tool_call"})
        content = ""
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        try:
            args = json.loads(function.get("arguments") or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments are not an object")
            calls.append({"name": function.get("name", ""), "args": args, "id": call.get("id"), "type": "tool_call"})
        except ValueError as exc:
            invalid.append({"name": function.get("name"), "args": function.get("arguments"), "id": call.get("id"),
                            "error": str(exc), "type": "invalid_tool_call"})
    return AIMessage(content=content, tool_calls=calls, invalid_tool_calls=invalid,
                     response_metadata={"usage": completion.get("usage"), "model": completion.get("model")})


def request_body(model: str, messages: list[BaseMessage], tools: list[dict[str, Any]], tool_choice: str,
                 max_tokens: int, temperature: float) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [to_wire(m) for m in messages],
                            "max_tokens": max_tokens, "temperature": temperature}
    if tools:
        body.update(tools=tools, tool_choice=tool_choice)
    return body


class SeamModel:
    """The configured LLM backend in this process (llama.cpp, an upstream, slots)."""

    def __init__(self, llm: Any, model: str, run: Runner, max_tokens: int, temperature: float):
        self.llm, self.model, self.run = llm, model, run
        self.max_tokens, self.temperature = max_tokens, temperature

    def invoke(self, messages: list[BaseMessage], tools: list[dict[str, Any]], tool_choice: str) -> AIMessage:
        body = request_body(self.model, messages, tools, tool_choice, self.max_tokens, self.temperature)
        return from_wire(self.run(self.llm.chat(ChatCompletionRequest.model_validate(body))), bool(tools))


class GatewayModel:
    """A gateway's /v1/chat/completions (agents.llm_url)."""

    def __init__(self, url: str, api_key: str | None, model: str, max_tokens: int, temperature: float,
                 timeout: float = 300.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.model, self.max_tokens, self.temperature = model, max_tokens, temperature

    def invoke(self, messages: list[BaseMessage], tools: list[dict[str, Any]], tool_choice: str) -> AIMessage:
        body = request_body(self.model, messages, tools, tool_choice, self.max_tokens, self.temperature)
        try:
            response = self.http.post("/v1/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"the gateway at {self.http.base_url} is unreachable: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:300]
            error = InvalidRequest if response.status_code < 500 else AistackError
            raise error(f"the gateway answered {response.status_code}: {message}")
        return from_wire(response.json(), bool(tools))
