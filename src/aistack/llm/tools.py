"""Tool calling for backends that generate text themselves (llama.cpp).

The tools are described to the model in a system message, and the decoding is constrained by a
grammar built from their JSON schemas: `{"name": <one of the tools>, "arguments": <its
parameters>}`. With tool_choice `required` (or one named function) the output can only be such a
call, so even the 135M default model emits a valid one. With `auto` the grammar allows either a
call or plain text that does not start with `{`. Earlier calls and tool results are written back
into the conversation as text, since small models' chat templates know no tool roles."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from aistack.errors import InvalidRequest
from aistack.llm.call_budget import bounded, close_json, skeleton
from aistack.llm.protocol import ChatCompletionRequest, ChatMessage, Tool

TOOLS_PROMPT = (
    "You can call these functions. To call one, answer with only a JSON object "
    '{{"name": <function name>, "arguments": <its arguments>}}.{free}\n\nFunctions:\n{functions}'
)
TEXT_RULE = "text ::= [^{ \\t\\n] [^\\x00]*"


def grammar_tools(request: ChatCompletionRequest) -> list[tuple[int, Tool]]:
    """The tools the model may call now, with their index in the request."""
    mode = request.tool_mode()
    return [(i, t) for i, t in enumerate(request.tools or ())
            if mode in ("auto", "required") or t.function.name == mode]


def describe(request: ChatCompletionRequest) -> str:
    functions = "\n".join(json.dumps({"name": t.function.name, "description": t.function.description or "",
                                      "parameters": t.function.parameters}) for _, t in grammar_tools(request))
    free = " If no function helps, answer in plain text." if request.tool_mode() == "auto" else ""
    return TOOLS_PROMPT.format(functions=functions, free=free)


def call_schema(request: ChatCompletionRequest, count_tokens: Callable[[str], int] | None = None) -> dict[str, Any]:
    """`{"name", "arguments"}` for each callable tool; aistack.llm.grammars turns it into GBNF.
    Each tool's parameters sit in `$defs` (the converter resolves no list index in a `$ref`),
    with their own local `$ref`s rebased there. With `count_tokens` (the model's tokenizer) and a
    max_tokens, strings and arrays are bounded so that a call fits it (aistack.llm.call_budget)."""
    tools = [tool for _, tool in grammar_tools(request)]
    calls = [{"type": "object", "required": ["name", "arguments"], "properties": {
                "name": {"const": tool.function.name}, "arguments": {"$ref": f"#/$defs/tool{i}"}}}
             for i, tool in enumerate(tools)]
    defs = {f"tool{i}": rebase_refs(fitted(tool, request.token_limit, count_tokens), f"/$defs/tool{i}")
            for i, tool in enumerate(tools)}
    return {**(calls[0] if len(calls) == 1 else {"oneOf": calls}), "$defs": defs}


def fitted(tool: Tool, budget: int | None, count_tokens: Callable[[str], int] | None) -> dict[str, Any]:
    parameters = tool.function.parameters or {"type": "object"}
    if budget is None or count_tokens is None:
        return parameters
    return bounded(parameters, count_tokens(skeleton(tool.function.name, parameters)), budget)


def rebase_refs(schema: Any, prefix: str) -> Any:
    """A copy of `schema` whose local `$ref`s (#/...) point below `prefix` (a JSON pointer)."""
    if isinstance(schema, dict):
        return {key: ("#" + prefix + value[1:]) if key == "$ref" and isinstance(value, str) and value.startswith("#")
                else rebase_refs(value, prefix) for key, value in schema.items()}
    if isinstance(schema, list):
        return [rebase_refs(value, prefix) for value in schema]
    return schema


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


def finished_call(text: str, request: ChatCompletionRequest, finish_reason: str) -> dict[str, Any] | None:
    """`parse_call`; and for a call that the token budget cut off, the call closed if its
    arguments still match the tool's schema, else a 400 naming max_tokens: never the cut-off
    text as if it were an answer."""
    call = parse_call(text, request)
    if call or finish_reason != "length" or request.tool_mode() is None or not text.lstrip().startswith("{"):
        return call
    closed = close_json(text)
    call = parse_call(closed, request) if closed else None
    if call and _matches(call, request):
        return call
    budget = f"max_tokens ({request.token_limit})" if request.token_limit else "the context"
    raise InvalidRequest(f"{budget} ran out inside a tool call before its arguments were complete; "
                         "raise max_tokens, or ask for shorter arguments", param="max_tokens")


def _matches(call: dict[str, Any], request: ChatCompletionRequest) -> bool:
    import jsonschema

    schemas = {t.function.name: t.function.parameters or {"type": "object"} for t in request.tools or ()}
    arguments = json.loads(call["function"]["arguments"])
    return jsonschema.Draft202012Validator(schemas[call["function"]["name"]]).is_valid(arguments)
