"""A scripted agent model for tests of the agent graph's control flow. Never a default: the
integration tests drive agents with the embedded model."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

ids = itertools.count()


def calling(name: str, **args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{next(ids)}"}])


class Scripted:
    """Answers with respond(messages, tool names); records what it was shown."""

    def __init__(self, respond: Callable[[list[BaseMessage], list[str]], AIMessage]):
        self.respond = respond
        self.seen: list[list[BaseMessage]] = []
        self.choices: list[str] = []

    def invoke(self, messages: list[BaseMessage], tools: list[dict[str, Any]], tool_choice: str) -> AIMessage:
        self.seen.append(messages)
        self.choices.append(tool_choice)
        return self.respond(messages, [t["function"]["name"] for t in tools])


def replies(*messages: AIMessage) -> Scripted:
    queue = list(messages)
    return Scripted(lambda seen, tools: queue.pop(0) if queue else AIMessage("done"))


def turn(messages: list[BaseMessage]) -> int:
    """How many tool results the model has seen: the round it is in."""
    return sum(isinstance(m, ToolMessage) for m in messages)
