"""Agent tools from MCP servers (the official `mcp` SDK's client), configured per agent
(`agents.definitions.<agent>.mcp_servers`), over stdio or streamable HTTP.

They follow the built-in tools' rules: the server's input schema is what the model sees, and the
arguments are validated against it before the call; a failure (the server's error, a timeout, a
server that is down) comes back to the model as an error result; and a call waits for a person's
approval unless the configuration trusts that tool (`trusted`), and always when the server marks
it destructive. Each listing and each call opens its own session within `timeout`, on the loop
the gateway runs (through the agent service's one portal): a stdio server is started for the call
and stopped, with its process tree, when it ends or times out."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any, Literal, Optional

from pydantic import BaseModel, create_model

from aistack.agents.model import Runner
from aistack.agents.tools import AgentTool, ToolError
from aistack.errors import BackendUnavailable
from aistack.settings.agents import McpServerSettings

JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list,
                              "object": dict}
OUTER_MARGIN = 5.0  # the call's own thread waits this much longer than the session's timeout


def _field_type(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        return Literal[tuple(schema["enum"])]
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the one non-null type, made optional
        kinds = [k for k in kind if k != "null"]
        found = JSON_TYPES.get(kinds[0], Any) if len(kinds) == 1 else Any
        return Optional[found] if "null" in kind else found  # noqa: UP007 - Any | None is not a type
    if kind == "array" and isinstance(schema.get("items"), dict):
        return list[_field_type(schema["items"])]  # type: ignore[misc]
    return JSON_TYPES.get(kind, Any)


def arguments_model(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model of a tool's JSON-schema input: its fields typed, required ones required,
    unknown ones refused."""
    required = set(schema.get("required") or ())
    fields: dict[str, Any] = {}
    for field, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        default = ... if field in required else spec.get("default")
        kind = _field_type(spec)
        fields[field] = (kind if field in required else Optional[kind], default)  # noqa: UP007
    return create_model(f"{name}_arguments", __config__={"extra": "forbid"}, **fields)


def tool_name(server: str, tool: str) -> str:
    """`<server>_<tool>`, as an OpenAI function name allows."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}_{tool}")[:64]


async def _session(stack: AsyncExitStack, config: McpServerSettings) -> Any:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    if config.command:
        params = StdioServerParameters(command=config.command[0], args=config.command[1:], env=config.env or None)
        read, write = await stack.enter_async_context(stdio_client(params))
    else:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        headers = {k: v.get_secret_value() for k, v in config.headers.items()}
        http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=config.timeout))
        read, write = await stack.enter_async_context(streamable_http_client(config.url or "", http_client=http))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    return session


async def _within(config: McpServerSettings, work: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    import anyio

    with anyio.fail_after(config.timeout):
        async with AsyncExitStack() as stack:
            return await work(await _session(stack, config))


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "text", None))


def mcp_tools(server: str, config: McpServerSettings, run: Runner) -> dict[str, AgentTool]:
    """The server's tools as agent tools (blocking: it asks the server for them)."""
    async def listed(session: Any) -> list[Any]:
        return list((await session.list_tools()).tools)

    try:
        tools = run(_within(config, listed))
    except Exception as exc:  # noqa: BLE001 - down, slow, or not an MCP server: the run cannot start
        raise BackendUnavailable(f"MCP server '{server}' did not list its tools within {config.timeout:g} s",
                                 detail=f"{type(exc).__name__}: {exc}") from None
    made: dict[str, AgentTool] = {}
    for tool in tools:
        if config.tools is not None and tool.name not in config.tools:
            continue
        name = tool_name(server, tool.name)
        annotations = tool.annotations
        destructive = tool.name not in config.trusted or bool(annotations and annotations.destructive_hint)
        schema = dict(tool.input_schema or {"type": "object", "properties": {}})
        made[name] = AgentTool(name, tool.description or tool.name, arguments_model(name, schema),
                               _caller(server, tool.name, config, run), destructive,
                               timeout=config.timeout + OUTER_MARGIN, schema=schema)
    return made


def _caller(server: str, tool: str, config: McpServerSettings, run: Runner) -> Callable[..., Any]:
    def call(**arguments: Any) -> Any:
        async def called(session: Any) -> Any:
            return await session.call_tool(tool, {k: v for k, v in arguments.items() if v is not None})

        try:
            result = run(_within(config, called))
        except TimeoutError:
            raise ToolError(f"MCP server '{server}' did not answer within {config.timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - the model reads what went wrong, never a traceback
            raise ToolError(f"MCP server '{server}' failed: {type(exc).__name__}") from None
        if result.is_error:
            raise ToolError(_text(result) or f"{tool} failed")
        if result.structured_content is not None:
            return result.structured_content.get("result", result.structured_content)
        return _text(result)

    return call
