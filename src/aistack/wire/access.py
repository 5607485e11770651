"""Teams, users, keys, shares, who the caller is, and usage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aistack.wire import Answer, Deleted, ListOf, Open


class LimitsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    token_budget: int | None = Field(None, gt=0, description="Tokens per budget period; past it, 429 insufficient_quota.")
    budget_period: Literal["day", "month"] | None = None


class TeamBody(LimitsBody):
    name: str = Field(min_length=1, max_length=32)
    models: list[str] | None = Field(None, description="The only models the team's keys may use. Empty: any.")


class TeamUpdate(LimitsBody):
    models: list[str] | None = None


class UserBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    team: str


class KeyBody(LimitsBody):
    team: str | None = None
    user: str | None = None
    name: str | None = Field(None, max_length=128, description="A label for tables and logs.")
    scopes: list[str] | None = Field(None, description="Default: chat, embeddings, rag:read, rag:write, agents:run, "
                                     "snapshots.")
    models: list[str] | None = None
    expires_in_days: float | None = Field(None, gt=0)


class ShareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: str = Field(description="The team the collection is shared with.")
    access: Literal["read", "write"] = "read"


class Limits(Answer):
    requests_per_minute: float | None
    tokens_per_minute: float | None
    token_budget: int | None
    budget_period: Literal["day", "month"] | None


class Team(Limits):
    object: Literal["team"] = "team"
    name: str
    created_at: str
    models: list[str] | None


class TeamList(ListOf[Team]):
    pass


class TeamDeleted(Deleted):
    object: Literal["team.deleted"] = "team.deleted"
    name: str


class User(Answer):
    object: Literal["user"] = "user"
    name: str
    team: str
    created_at: str


class UserList(ListOf[User]):
    pass


class Key(Limits):
    object: Literal["api_key"] = "api_key"
    id: str
    key: str = Field(description="How tables and logs name it: sk-ais-<id>...<last 4>; never the key.")
    name: str | None
    team: str
    user: str | None
    scopes: list[str]
    models: list[str] | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    replaced_by: str | None


class KeyList(ListOf[Key]):
    pass


class IssuedKey(Key):
    secret: str = Field(description="The key itself, shown this once: only its hash is stored.")


class Me(Answer):
    object: Literal["principal"] = "principal"
    name: str
    team: str
    scopes: list[str]
    user: str | None
    key_id: str | None
    models: list[str] | None
    anonymous: bool


class UsageRow(Open):
    """One group's sums; the group itself is the field named as the report's `by` (day: "2026-12-01")."""

    requests: int
    errors: int
    abandoned: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    mean_latency_ms: float


class UsageReport(Answer):
    object: Literal["list"] = "list"
    by: Literal["hour", "day", "month", "team", "key", "model"]
    data: list[UsageRow]


class Share(Answer):
    object: Literal["share"] = "share"
    team: str = Field(description="The owning team.")
    collection: str = Field(description="The owner's name for it.")
    grantee: str = Field(description="The team it is shared with.")
    access: Literal["read", "write"]


class ShareList(ListOf[Share]):
    pass


class ShareDeleted(Deleted):
    object: Literal["share.deleted"] = "share.deleted"
    collection: str
    team: str
