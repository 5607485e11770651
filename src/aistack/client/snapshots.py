"""Snapshots for the CLI: a running gateway's /v1/snapshots, or the snapshot service in process."""

from __future__ import annotations

from typing import Any, Protocol

from aistack.client.http import Gateway
from aistack.client.local import Local, guard


class SnapshotClient(Protocol):
    def create(self, collection: str | None) -> list[dict[str, Any]]: ...
    def list(self, collection: str | None) -> list[dict[str, Any]]: ...
    def restore(self, key: str, target: str | None) -> dict[str, Any]: ...
    def prune(self, dry_run: bool) -> dict[str, list[str]]: ...
    def close(self) -> None: ...


class GatewaySnapshots(Gateway):
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 600.0):
        super().__init__(url, api_key, timeout)

    def create(self, collection: str | None) -> list[dict[str, Any]]:
        return self.call("POST", "/v1/snapshots", json={"collection": collection})["data"]

    def list(self, collection: str | None) -> list[dict[str, Any]]:
        return self.call("GET", "/v1/snapshots", params={"collection": collection} if collection else {})["data"]

    def restore(self, key: str, target: str | None) -> dict[str, Any]:
        return self.call("POST", "/v1/snapshots/restore", json={"key": key, "collection": target})

    def prune(self, dry_run: bool) -> dict[str, list[str]]:
        return self.call("POST", "/v1/snapshots/prune", json={"dry_run": dry_run})


class LocalSnapshots(Local):
    def create(self, collection: str | None) -> list[dict[str, Any]]:
        service = guard(lambda: self.container.snapshots)
        made = guard(lambda: [service.create(self.caller, collection)] if collection else service.create_all(self.caller))
        return [s.as_dict() for s in made]

    def list(self, collection: str | None) -> list[dict[str, Any]]:
        return [s.as_dict() for s in guard(lambda: self.container.snapshots.list(self.caller, collection))]

    def restore(self, key: str, target: str | None) -> dict[str, Any]:
        return guard(lambda: self.container.snapshots.restore(self.caller, key, target))

    def prune(self, dry_run: bool) -> dict[str, list[str]]:
        return guard(lambda: self.container.snapshots.prune(self.caller, dry_run))
