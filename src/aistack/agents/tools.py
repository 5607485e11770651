"""Agent tools: typed functions with a timeout, whose failures come back as an error result.

A tool is a plain function registered with `@tool`. Its parameters become a pydantic model (the
JSON schema the model sees, and the validation of what the model sends); a parameter named
`context` receives the ToolContext instead. Destructive tools wait for a person's approval.
A tool with a `scope` runs only for a run whose starter's key has that scope: the tools act
with the permissions of the caller who started the run (`context.caller`).

    from aistack.agents.tools import tool

    @tool(timeout=5)
    def disk_usage(path: str) -> str:
        "Free and used bytes of a mounted filesystem."
        ...
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError, create_model

from aistack.principals import Principal

if TYPE_CHECKING:
    from aistack.settings import Settings

# The knowledge base as tools see it: (caller, query, collection, top_k) -> passages with their sources
Search = Callable[[Principal, str, str, int], list[dict[str, Any]]]


class ToolError(Exception):
    """A failure the model should read: the message becomes the tool result."""


@dataclass
class ToolContext:
    """What tools may use: the settings, the knowledge base, the agent service (a supervisor's
    delegations) and the call being run."""

    settings: Settings
    search: Search | None = None
    agents: Any = None
    thread_id: str | None = None
    call_id: str | None = None
    caller: Principal | None = None  # who started the run; None outside a run (schemas, prechecks)


@dataclass(frozen=True)
class AgentTool:
    name: str
    description: str
    arguments: type[BaseModel]
    function: Callable[..., Any]
    destructive: bool = False
    timeout: float | Callable[[ToolContext], float] | None = None  # None: agents.tool_timeout

    def timeout_for(self, context: ToolContext, default: float) -> float:
        """Seconds this call may take: its own (a number, or read from settings), else the default."""
        if callable(self.timeout):
            return self.timeout(context)
        return self.timeout or default
    precheck: Callable[[BaseModel, ToolContext], None] | None = None  # raises ToolError before approval is asked
    takes_context: bool = False
    narrow: Callable[[dict[str, Any], ToolContext], None] | None = None  # edits the schema from settings
    repeatable: bool = False  # the same call twice in a row runs twice (else the second is refused)
    scope: str | None = None  # what the run's starter must be allowed (Principal.can)
    schema: dict[str, Any] | None = None  # the parameters as their owner wrote them (an MCP server's); else the model's

    def spec(self, context: ToolContext | None = None) -> dict[str, Any]:
        """The OpenAI tool definition (the schema is what constrains a small model's call)."""
        schema = json.loads(json.dumps(self.schema)) if self.schema is not None else self.arguments.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        if self.narrow is not None and context is not None:
            self.narrow(schema, context)
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": schema}}

    def parse(self, arguments: Any, context: ToolContext) -> BaseModel:
        """Validated arguments; a ToolError says what is wrong with them."""
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError as exc:
                raise ToolError(f"arguments are not valid JSON: {exc.msg}") from None
        if not isinstance(arguments, dict):
            raise ToolError("arguments must be a JSON object")
        try:
            parsed = self.arguments.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            raise ToolError(f"invalid arguments: {problems}") from None
        if self.precheck is not None:
            self.precheck(parsed, context)
        return parsed


_REGISTRY: dict[str, AgentTool] = {}


def make_tool(function: Callable[..., Any], *, name: str | None = None, description: str | None = None,
              destructive: bool = False, timeout: float | Callable[[ToolContext], float] | None = None,
              precheck: Callable[[Any, ToolContext], None] | None = None,
              narrow: Callable[[dict[str, Any], ToolContext], None] | None = None,
              repeatable: bool = False, scope: str | None = None) -> AgentTool:
    """An AgentTool from a function's signature and docstring."""
    fields: dict[str, Any] = {}
    takes_context = False
    for param in inspect.signature(function, eval_str=True).parameters.values():
        if param.name == "context":
            takes_context = True
            continue
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    tool_name = name or function.__name__
    arguments = create_model(f"{tool_name}_arguments", __config__={"extra": "forbid"}, **fields)
    return AgentTool(tool_name, description or inspect.getdoc(function) or tool_name, arguments, function,
                     destructive, timeout, precheck, takes_context, narrow, repeatable, scope)


def tool(function: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Register a function as an agent tool (usable bare or with options of make_tool)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        made = make_tool(fn, **options)
        _REGISTRY[made.name] = made
        return fn

    return register(function) if function is not None else register


def registered(settings: Settings) -> dict[str, AgentTool]:
    """Every tool: the built-in ones, then those the plugins register (the `aistack.plugins`
    entry points, and the modules named in agents.plugins)."""
    import aistack.agents.builtin  # noqa: F401  (registers the built-in tools)
    from aistack import plugins

    plugins.load()
    for module in settings.agents.plugins:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ToolError(f"agents.plugins: cannot import {module}: {exc}") from None
    return dict(_REGISTRY)


@dataclass
class ToolOutcome:
    content: str
    ok: bool


def error(message: str) -> ToolOutcome:
    return ToolOutcome(f"error: {message}", ok=False)


def execute(chosen: AgentTool, arguments: BaseModel, context: ToolContext, timeout: float,
            limit: int) -> ToolOutcome:
    """Run one call in a daemon thread: a timeout or an exception becomes an error result.
    Control-flow exceptions of LangGraph (an approval interrupt in a delegated run) pass through."""
    from langgraph.errors import GraphBubbleUp

    if chosen.scope and (context.caller is None or not context.caller.can(chosen.scope)):
        return error(f"{chosen.name} needs the '{chosen.scope}' scope, which this run's key lacks")
    kwargs = arguments.model_dump()
    if chosen.takes_context:
        kwargs["context"] = context
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = chosen.function(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the model, never raised in the run
            box["error"] = exc

    thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True,
                              name=f"tool-{chosen.name}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return error(f"{chosen.name} timed out after {timeout:g} s")
    if isinstance(box.get("error"), GraphBubbleUp):
        raise box["error"]
    if "error" in box:
        exc = box["error"]
        detail = str(exc) if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}"
        return error(detail)
    value = box.get("value")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > limit:
        text = text[:limit] + f" ... [{len(text) - limit} more characters cut]"
    return ToolOutcome(text, ok=True)
