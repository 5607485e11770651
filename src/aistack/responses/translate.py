"""Responses onto chat completions and back: input items become chat messages, and a chat
completion becomes the response's output items.

- `instructions` is the first system message (not carried to the next response, as OpenAI does).
- A `function_call` item is an assistant message's tool call; `function_call_output` is the
  `tool` message that answers it.
- `file_search` is the chat `rag` extension over the named collection: its sources become a
  `file_search_call` item and `file_citation` annotations on the answer."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import ValidationError

from aistack.errors import InvalidRequest, validation_error
from aistack.llm.protocol import ChatCompletionRequest
from aistack.wire.responses import FileSearchTool, FunctionTool, ResponsesRequest

Item = dict[str, Any]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def input_items(body: ResponsesRequest) -> list[Item]:
    """The request's input as items, in the form OpenAI lists them: each with an id, a message's
    text as parts (a string input is one user message)."""
    given = [{"type": "message", "role": "user", "content": body.input}] if isinstance(body.input, str) else [
        item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in body.input]
    items = []
    for item in given:
        if item["type"] == "message" and isinstance(item["content"], str):
            kind = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = [{"type": kind, "text": item["content"]}]
        items.append({"id": new_id("msg" if item["type"] == "message" else "item"), **item})
    return items


def _content(content: str | list[Item]) -> str | list[Item]:
    if isinstance(content, str):
        return content
    parts: list[Item] = []
    for part in content:
        if part["type"] == "input_image":
            parts.append({"type": "image_url", "image_url": {"url": part.get("image_url"),
                                                            "detail": part.get("detail", "auto")}})
        else:
            parts.append({"type": "text", "text": part["text"]})
    return parts


def chat_messages(items: list[Item], instructions: str | None) -> list[Item]:
    """Chat messages for a conversation of items; consecutive function calls are one assistant turn."""
    messages: list[Item] = [{"role": "system", "content": instructions}] if instructions else []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item["role"], "content": _content(item["content"])})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and last.get("tool_calls") and not last.get("content"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]})
        # file_search_call items of an earlier answer: its answer is replayed, not its search
    return messages


def _tools(body: ResponsesRequest) -> dict[str, Any]:
    functions = [t for t in body.tools if isinstance(t, FunctionTool)]
    if not functions or body.tool_choice == "none":
        return {}
    choice = body.tool_choice
    if isinstance(choice, dict):
        choice = {"type": "function", "function": {"name": choice["name"]}}
    tools = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                "parameters": t.parameters or {"type": "object", "properties": {}}}}
             for t in functions]
    return {"tools": tools, "tool_choice": choice}


def _response_format(body: ResponsesRequest) -> dict[str, Any]:
    form = body.text.format if body.text else None
    if form is None or form.type == "text":
        return {}
    if form.type == "json_object":
        return {"response_format": {"type": "json_object"}}
    schema = {"name": form.name, "schema": form.schema_, "strict": form.strict}
    return {"response_format": {"type": "json_schema", "json_schema": schema}}


def _rag(tool: FileSearchTool | None) -> dict[str, Any]:
    if tool is None:
        return {}
    options: dict[str, Any] = {"collection": tool.vector_store_ids[0], "top_k": tool.max_num_results}
    if tool.ranking_options and tool.ranking_options.score_threshold is not None:
        options["score_threshold"] = tool.ranking_options.score_threshold
    return {"rag": {k: v for k, v in options.items() if v is not None}}


def chat_request(body: ResponsesRequest, conversation: list[Item]) -> ChatCompletionRequest:
    """The chat completion that answers `conversation` (earlier items, then this input)."""
    data: dict[str, Any] = {
        "model": body.model, "messages": chat_messages(conversation, body.instructions),
        "max_tokens": body.max_output_tokens, "temperature": body.temperature, "top_p": body.top_p,
        "user": body.user or body.safety_identifier, "stream": body.stream,
        "stream_options": {"include_usage": True} if body.stream else None,
        **_tools(body), **_response_format(body), **_rag(body.file_search()),
    }
    try:
        return ChatCompletionRequest.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:  # an image URL that is a path: the input's fault, said in chat's words
        raise InvalidRequest(validation_error(exc.errors()).message, param="input") from None


def citations(text: str, sources: list[Item]) -> list[Item]:
    """A `file_citation` for each file the answer drew on, best first: at the answer's own
    `[Source: name]` mention when it makes one, else at the end of the text."""
    annotations: list[Item] = []
    seen: set[str] = set()
    for source in sources:
        name = source.get("filename") or source.get("source") or "unknown"
        if name in seen:
            continue
        seen.add(name)
        mention = re.search(r"\[Source:\s*" + re.escape(name) + r"\s*\]", text)
        annotations.append({"type": "file_citation", "file_id": source.get("source") or name,
                            "filename": name, "index": mention.end() if mention else len(text)})
    return annotations


def file_search_call(query: str, sources: list[Item], with_results: bool, status: str = "completed") -> Item:
    results = [{"file_id": s.get("source"), "filename": s.get("filename"), "score": s.get("score"),
                "text": s.get("text"), "attributes": {"page": s.get("page"), "chunk_index": s.get("chunk_index")}}
               for s in sources] if with_results else None
    return {"id": new_id("fs"), "type": "file_search_call", "status": status, "queries": [query],
            "results": results}


def message_item(text: str, annotations: list[Item], status: str = "completed", item_id: str | None = None) -> Item:
    return {"id": item_id or new_id("msg"), "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}]}


def function_call_item(call: Item, status: str = "completed", item_id: str | None = None) -> Item:
    function = call.get("function") or {}
    return {"id": item_id or new_id("fc"), "type": "function_call", "status": status,
            "call_id": call.get("id") or new_id("call"), "name": function.get("name"),
            "arguments": function.get("arguments") or ""}


def usage_of(chat_usage: Item | None) -> Item | None:
    if not chat_usage:
        return None
    prompt, completion = chat_usage.get("prompt_tokens") or 0, chat_usage.get("completion_tokens") or 0
    cached = (chat_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
            "input_tokens_details": {"cached_tokens": cached}, "output_tokens_details": {"reasoning_tokens": 0}}


def output_of(completion: Item, query: str | None, with_results: bool) -> tuple[list[Item], bool]:
    """The output items of a chat completion, and whether it ended early (max_output_tokens)."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    cut = choice.get("finish_reason") == "length"
    sources = completion.get("sources") or []
    output: list[Item] = []
    if query is not None:
        output.append(file_search_call(query, sources, with_results))
    text = message.get("content")
    if text:
        output.append(message_item(text, citations(text, sources), "incomplete" if cut else "completed"))
    output.extend(function_call_item(call) for call in message.get("tool_calls") or ())
    return output, cut


def response_object(response_id: str, body: ResponsesRequest, created_at: int, status: str, output: list[Item],
                    usage: Item | None, cut: bool = False, model: str | None = None) -> Item:
    """The response object, echoing what was asked as OpenAI does."""
    form = body.text.format.model_dump(by_alias=True, exclude_none=True) if body.text else {"type": "text"}
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "error": None, "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "instructions": body.instructions, "max_output_tokens": body.max_output_tokens,
        "model": model or body.model, "output": output, "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id, "reasoning": {"effort": None, "summary": None},
        "store": body.store, "temperature": body.temperature, "text": {"format": form},
        "tool_choice": body.tool_choice, "tools": [t.model_dump(exclude_none=True) for t in body.tools],
        "top_p": body.top_p, "truncation": "disabled", "usage": usage, "user": body.user,
        "metadata": body.metadata or {},
    }


BARE = {"message": ("type", "role", "content"), "function_call": ("type", "call_id", "name", "arguments"),
        "function_call_output": ("type", "call_id", "output")}


def _bare(item: Item) -> Item:
    """An item as input to another server: what it means, not aistack's ids and statuses."""
    kept = {k: item[k] for k in BARE.get(item.get("type", "message"), ()) if k in item}
    if kept.get("type") == "message" and isinstance(kept["content"], list):
        kept["content"] = [{k: v for k, v in part.items() if k in ("type", "text", "image_url", "detail")}
                           for part in kept["content"]]
    return kept


def upstream_body(body: ResponsesRequest, conversation: list[Item]) -> Item:
    """The request for an upstream's own Responses API: the whole conversation as input, and no
    state kept there (aistack stores it, under the caller's ownership)."""
    data = body.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True,
                           exclude={"previous_response_id", "store", "include", *(body.model_extra or {})})
    data["input"] = [_bare(item) for item in conversation if item.get("type", "message") in BARE]
    data["store"] = False
    return data
