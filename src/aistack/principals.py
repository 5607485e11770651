"""Who is asking: the principal every service method takes, its scopes and its team.

The type lives low, beside the errors, so that every feature service can check it without
importing the access service (which stores keys and teams and makes principals from tokens)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aistack.errors import Forbidden, InvalidRequest, ModelNotFound

# what a key may do; `admin` implies every other and sees every team's resources
SCOPES = ("chat", "embeddings", "rag:read", "rag:write", "agents:run", "agents:approve", "snapshots", "deploy",
          "admin")
# a bootstrap user key (server.api_keys) or anonymous use: what a key could do before teams existed
USER_SCOPES = frozenset({"chat", "embeddings", "rag:read", "rag:write", "agents:run", "snapshots"})
DEFAULT_TEAM = "default"  # bootstrap keys, anonymous use, and every resource made before teams existed
TEAM_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}[a-z0-9]|[a-z0-9]")  # fullmatch; never "__" (names use it)


def check_team_name(name: str) -> str:
    if not TEAM_NAME.fullmatch(name):
        raise InvalidRequest(f"team name '{name}': use 1-32 of a-z, 0-9 and '-', starting and ending with a "
                             "letter or digit", param="team")
    return name


def check_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidRequest(f"unknown scopes {unknown}; the scopes are: {', '.join(SCOPES)}", param="scopes")
    return frozenset(scopes)


@dataclass(frozen=True)
class Limits:
    """Quotas of a team or a key; None is no limit of that kind."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    token_budget: int | None = None
    budget_period: str | None = None  # day | month


NO_LIMITS = Limits()


@dataclass(frozen=True)
class Principal:
    """`name` is what logs and audit trails show (a key's public prefix, `oidc:<subject>`,
    `bootstrap`, `admin-key`, `anonymous`); `models`, when set, are the only models it may use."""

    name: str
    team: str = DEFAULT_TEAM
    scopes: frozenset[str] = USER_SCOPES
    models: frozenset[str] | None = None
    key_id: str | None = None  # a stored key's id (quotas and the ledger count per key)
    user: str | None = None
    client: str | None = None  # the client's address (what anonymous use is limited by)
    anonymous: bool = field(default=False)
    limits: Limits = NO_LIMITS  # its key's quotas
    team_limits: Limits = NO_LIMITS  # its team's quotas, shared by the team's keys

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def can(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def require(self, scope: str) -> None:
        if not self.can(scope):
            raise Forbidden(f"this key lacks the '{scope}' scope")

    def sees_team(self, team: str) -> bool:
        """Own team's resources, or every team's for an admin."""
        return self.admin or team == self.team

    @property
    def identity(self) -> str:
        """Who owns what it starts (agent runs): its user when its key names one, else its name."""
        return f"user:{self.user}" if self.user else self.name

    def as_dict(self) -> dict:
        """What a run's checkpoint and a hand-off message keep of the caller (never a key)."""
        return {"name": self.name, "team": self.team, "scopes": sorted(self.scopes), "user": self.user,
                "key_id": self.key_id, "models": sorted(self.models) if self.models is not None else None}

    @classmethod
    def from_dict(cls, data: dict) -> Principal:
        models = data.get("models")
        return cls(str(data["name"]), str(data.get("team") or DEFAULT_TEAM), frozenset(data.get("scopes") or ()),
                   frozenset(models) if models is not None else None, data.get("key_id"), data.get("user"))

    def require_model(self, model: str) -> None:
        """A key with a model allowlist may use only those (others look like unknown models)."""
        if self.models is not None and not self.admin and model not in self.models:
            raise ModelNotFound(model, sorted(self.models))


# the operator at the console of the machine: the in-process CLI, and tests of the services
OPERATOR = Principal("operator", scopes=frozenset(SCOPES))
ANONYMOUS = Principal("anonymous", anonymous=True)
