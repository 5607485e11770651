"""Agent runs over HTTP: start, read, resume, approve or reject, and hand-offs to a worker."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aistack.wire import Answer, ListOf


class HandoffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str = Field(min_length=1, description="The task, in words.")
    thread_id: str | None = Field(None, description="Thread id of the run. Default: <agent>-<random>.")


class RunRequest(HandoffRequest):
    stream: bool = Field(False, description="Stream the run's events as server-sent events.")


class ContinueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stream: bool = False


class DecisionRequest(ContinueRequest):
    reason: str | None = Field(None, max_length=500)


class Agent(Answer):
    name: str
    description: str
    tools: list[str]
    members: list[str]


class AgentList(ListOf[Agent]):
    pass


class RunSummary(Answer):
    thread_id: str
    agent: str
    status: Literal["running", "awaiting_approval", "interrupted", "completed"]
    stop_reason: str | None
    owner: str | None = Field(description="Who started it: user:<name>, or the key's name.")
    team: str
    tool_calls_count: int
    max_iterations: int | None
    answer: str | None
    pending_approval: dict[str, Any] | None = Field(description="The tool call waiting for a decision, and its key.")
    next: list[str]


class Run(RunSummary):
    steps: list[dict[str, Any]] = Field(description="task, tool_calls, tool_result and answer, in order.")


class RunList(ListOf[RunSummary]):
    pass


class HandoffAccepted(Answer):
    message_id: str
    thread_id: str
