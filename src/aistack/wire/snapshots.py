"""Snapshots of collections to S3: create, list, restore, prune."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aistack.wire import Answer, ListOf


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collection: str | None = Field(None, description="Default: every collection of the caller's team.")


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    collection: str | None = Field(None, description="Default: the collection the snapshot was taken of.")


class PruneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False


class Snapshot(Answer):
    key: str
    collection: str
    size: int
    kind: Literal["aistack", "qdrant"]
    created_at: str


class SnapshotList(ListOf[Snapshot]):
    pass


class Restored(Answer):
    key: str
    collection: str
    points: int


class Pruned(Answer):
    kept: list[str]
    deleted: list[str]
