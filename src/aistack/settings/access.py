"""Settings of teams and access: where principals are stored, and how long a key check is trusted."""

from __future__ import annotations

from pydantic import Field

from aistack.settings.section import Section


class OidcSettings(Section):
    issuer: str | None = Field(None, description="The issuer (`iss`) tokens must name. Empty: no OIDC tokens.")
    audience: str | None = Field(None, description="The audience (`aud`) tokens must name (the gateway's client id).")
    jwks_url: str | None = Field(
        None, description="The issuer's JWKS. Empty: read from <issuer>/.well-known/openid-configuration.")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"], description="Signatures accepted.")
    team_claim: str = Field("groups", description="The claim whose values name teams (a list or a string).")
    teams: dict[str, str] = Field(
        default_factory=dict, description="Claim value -> team. Empty: a value is the team's name itself.")
    scopes: dict[str, list[str]] = Field(
        default_factory=dict, description="Claim value -> scopes it grants (added up over the token's values).")
    default_scopes: list[str] = Field(
        default_factory=lambda: ["chat", "embeddings", "rag:read", "rag:write", "agents:run", "snapshots"],
        description="Scopes of a token none of whose values is in `scopes`.")
    user_claim: str = Field("email", description="The claim naming the user (else `sub`).")
    leeway: float = Field(30.0, ge=0, description="Seconds of clock skew allowed on exp and nbf.")
    jwks_cache_seconds: float = Field(300.0, gt=0, description="Seconds the JWKS is kept (an unknown kid refetches it).")
    jwks_refetch_seconds: float = Field(
        10.0, ge=0, description="Seconds between refetches for unknown kids (a flood of made-up kids reaches the "
        "issuer at most this often; a rotated key is taken within it).")


class AccessSettings(Section):
    store_url: str | None = Field(
        None, description="Teams, users and keys: a postgresql:// URL shared by gateway instances. Empty: SQLite "
        "in <home>/access.")
    store_timeout: float = Field(5.0, gt=0, description="Seconds one read of the access store may take.")
    cache_seconds: float = Field(
        0.5, ge=0, le=1, description="Seconds a key check is trusted before the store is read again: a revoked key "
        "stops working on every gateway within this (at most 1 s).")
    usage_ledger: bool = Field(True, description="Record every /v1 request in the usage ledger.")
    usage_retention_days: int = Field(30, ge=1, description="Days the ledger keeps each request's own row.")
    rollup_retention_days: int = Field(400, ge=1, description="Days the ledger keeps hourly rollups (reports read these).")
    usage_flush_seconds: float = Field(1.0, gt=0, description="Seconds between the ledger's batched writes.")
    oidc: OidcSettings = Field(default_factory=OidcSettings)


class ResponsesSettings(Section):
    """Stored responses of the Responses API (`store: true`, OpenAI's default)."""

    store_url: str | None = Field(
        None, description="Stored responses: a postgresql:// URL shared by gateway instances. Empty: SQLite in "
        "<home>/responses.")
    store_timeout: float = Field(5.0, gt=0, description="Seconds one connection to the response store may take.")
    retention_days: float = Field(30, gt=0, description="Days a stored response can be read or continued (OpenAI "
                                  "keeps 30).")
