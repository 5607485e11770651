"""The deployment API (/v1/admin): slots, deploy, canary, weights, rollback, audit, A/B report."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aistack.settings.deploy import SmokeTest
from aistack.wire import Answer, ListOf


class SlotDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    model: str | None = None
    version: str | None = None
    runtime: Literal["external", "process", "compose"] = "external"
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    compose_file: str | None = None


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    smoke_tests: list[SmokeTest] | None = None


class WeightBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(ge=0)


class CanaryBody(WeightBody):
    smoke_tests: list[SmokeTest] | None = None


class Slot(Answer):
    name: str
    url: str
    model: str | None
    weight: float
    state: str
    version: str | None
    runtime: Literal["external", "process", "compose"]
    spec: dict[str, Any] | None = Field(description="command, env (values masked) and compose_file.")
    inflight: int = Field(description="Requests this gateway is sending to the slot now.")


class SlotList(ListOf[Slot]):
    pass


class SlotDeleted(Answer):
    deleted: str = Field(description="The slot's name.")


class Step(Answer):
    name: str
    ok: bool
    detail: str
    seconds: float


class DeployResult(Answer):
    slot: str
    action: str
    ok: bool
    active: list[str]
    error: str | None
    steps: list[Step]


class AuditEntry(Answer):
    at: str
    actor: str
    action: str
    slot: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditList(ListOf[AuditEntry]):
    pass


class SlotReport(Answer):
    slot: str
    requests: int
    errors: int
    tokens: float
    seconds: float
    error_rate: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    tokens_per_request: float | None


class SlotReportList(ListOf[SlotReport]):
    pass


class NginxApplied(Answer):
    applied: str = Field(description="The file nginx now reads.")
