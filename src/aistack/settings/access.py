"""Settings of teams and access: where principals are stored, and how long a key check is trusted."""

from __future__ import annotations

from pydantic import Field

from aistack.settings.section import Section


class AccessSettings(Section):
    store_url: str | None = Field(
        None, description="Teams, users and keys: a postgresql:// URL shared by gateway instances. Empty: SQLite "
        "in <home>/access.")
    store_timeout: float = Field(5.0, gt=0, description="Seconds one read of the access store may take.")
    cache_seconds: float = Field(
        0.5, ge=0, le=1, description="Seconds a key check is trusted before the store is read again: a revoked key "
        "stops working on every gateway within this (at most 1 s).")
    usage_retention_days: int = Field(30, ge=1, description="Days the ledger keeps each request's own row.")
    rollup_retention_days: int = Field(400, ge=1, description="Days the ledger keeps hourly rollups (reports read these).")
    usage_flush_seconds: float = Field(1.0, gt=0, description="Seconds between the ledger's batched writes.")
