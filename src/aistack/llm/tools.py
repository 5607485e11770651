"""Tool calling for backends that generate text themselves (llama.cpp).

The tools are described to the model in a system message, and the decoding is constrained by a
grammar built from their JSON schemas: `{"name": <one of the tools>, "arguments": <its
parameters>}`. With tool_choice `required` (or one named function) the output can only be such a
call, so even the 135M default model emits a valid one. With `auto` the grammar allows either a
call or plain text that does not start with `{`. Earlier calls and tool results are written back
into the conversation as text, since small models' chat templates know no tool roles."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from aistack.llm.protocol import ChatCompletionRequest, ChatMessage

TOOLS_PROMPT = (
    "You can call these functions. To call one, answer with only a JSON object "
    '{{"name": <function name>, "arguments": <its arguments>}}.{free}\n\nFunctions:\n{functions}'
)
TEXT_RULE = "text ::= [^{ \\t\\n] [^\\x00]*"


def describe(request: ChatCompletionRequest) -> str:
    mode = request.tool_mode()
    tools = [t for t in request.tools or () if mode in ("auto", "required") or t.function.name == mode]
    functions = "\n".join(json.dumps({"name": t.function.name, "description": t.function.description or "",
                                      "parameters": t.function.parameters}) for t in tools)
    free = " If no function helps, answer in plain text." if mode == "auto" else ""
    return TOOLS_PROMPT.format(functions=functions, free=free)


def call_schema(request: ChatCompletionRequest) -> dict[str, Any]:
    mode = request.tool_mode()
    calls = [{"type": "object", "required": ["name", "arguments"], "properties": {
                "name": {"const": t.function.name}, "arguments": t.function.parameters or {"type": "object"}}}
             for t in request.tools or () if mode in ("auto", "required") or t.function.name == mode]
    return calls[0] if len(calls) == 1 else {"oneOf": calls}


def grammar_text(request: ChatCompletionRequest) -> str | None:
    """GBNF for this request's tool calls; None when no tool may be called."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    mode = request.tool_mode()
    if mode is None:
        return None
    gbnf = json_schema_to_gbnf(json.dumps(call_schema(request)))
    if mode != "auto":
        return gbnf
    return re.sub(r"^root ::=", "call ::=", gbnf, count=1, flags=re.MULTILINE) + f"\nroot ::= call | text\n{TEXT_RULE}\n"


def as_text(message: ChatMessage, names: dict[str, str]) -> dict[str, str]:
    """One message for a template without tool roles."""
    if message.role == "tool":
        name = names.get(message.tool_call_id or "", "a function")
        return {"role": "user", "content": f"Result of {name}: {message.text()}"}
    if message.role == "assistant" and message.tool_calls:
        calls = [{"name": c.function.name, "arguments": _loads(c.function.arguments)} for c in message.tool_calls]
        return {"role": "assistant", "content": json.dumps(calls[0] if len(calls) == 1 else calls)}
    return {"role": "system" if message.role == "developer" else message.role, "content": message.text()}


def messages_for(request: ChatCompletionRequest) -> list[dict[str, str]]:
    names = {c.id: c.function.name for m in request.messages for c in m.tool_calls or ()}
    messages = [as_text(m, names) for m in request.messages]
    if request.tool_mode() is None:
        return messages
    tools = describe(request)
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + tools}, *messages[1:]]
    return [{"role": "system", "content": tools}, *messages]


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_call(text: str, request: ChatCompletionRequest) -> dict[str, Any] | None:
    """The OpenAI tool_calls entry for generated text, or None when the text is an answer."""
    if request.tool_mode() is None or not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    names = {t.function.name for t in request.tools or ()}
    if not isinstance(data, dict) or data.get("name") not in names:
        return None
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": data["name"], "arguments": json.dumps(data.get("arguments", {}))}}
