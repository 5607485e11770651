"""Liveness and readiness."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aistack.wire import Answer


class Health(Answer):
    status: Literal["ok"] = "ok"


class Ready(Answer):
    status: Literal["ready", "unavailable"]
    llm: dict[str, Any] = Field(description="The LLM backend by name, or the reason it cannot serve.")
    vectorstore: dict[str, Any] | None = Field(None, description="The vector store by name, or why it cannot serve.")
