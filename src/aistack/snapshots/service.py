"""create | list | restore | prune snapshots of collections in an S3 bucket.

Keys are `<prefix>/<collection>/<UTC timestamp>.<kind>`: `tar.gz` for aistack's portable
archive (embedded Qdrant, Chroma), `snapshot` for a Qdrant server's native snapshot."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any, TypeVar

from aistack.errors import BackendUnavailable, InvalidRequest, NotFound
from aistack.knowledge.owners import Owners, owner_of
from aistack.principals import Principal
from aistack.settings import Settings
from aistack.snapshots import archive
from aistack.snapshots.retention import to_keep
from aistack.vectorstore import VectorStore

STAMP = "%Y%m%dT%H%M%S%fZ"
UNAVAILABLE = ("the snapshot store cannot be used: check snapshots.endpoint_url, snapshots.bucket and the "
               "access keys (the gateway log has the reason)")
T = TypeVar("T")
KINDS = {"tar.gz": "aistack", "snapshot": "qdrant"}


@dataclass
class SnapshotInfo:
    key: str
    collection: str
    created_at: datetime
    size: int
    kind: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "collection": self.collection, "size": self.size, "kind": self.kind,
                "created_at": self.created_at.isoformat(timespec="seconds")}


class SnapshotService:
    def __init__(self, settings: Settings, store: VectorStore):
        self.settings = settings
        self.config = settings.snapshots
        self.store = store
        self._s3: Any = None
        qdrant = settings.vectorstore.qdrant
        self.native = store.name == "qdrant" and bool(qdrant.url)
        self.qdrant_config = qdrant
        self.owners = Owners()  # the owning team only: shares give documents, not snapshots

    def _client(self) -> Any:
        """The S3 client, kept once its bucket is known to be there (made if missing)."""
        if self._s3 is None:
            try:
                import boto3
            except ModuleNotFoundError:
                raise BackendUnavailable("snapshots need boto3: run pip install 'aistack[s3]'") from None
            from botocore.exceptions import ClientError

            c = self.config
            client = boto3.client(
                "s3", endpoint_url=c.endpoint_url, region_name=c.region,
                aws_access_key_id=c.access_key.get_secret_value() if c.access_key else None,
                aws_secret_access_key=c.secret_key.get_secret_value() if c.secret_key else None,
            )
            try:
                client.head_bucket(Bucket=c.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
                client.create_bucket(Bucket=c.bucket)
            self._s3 = client
        return self._s3

    def s3(self, action: Callable[[Any], T], missing: str | None = None) -> T:
        """One S3 call. Whatever fails, the caller reads the same 503 every time (no credentials,
        no endpoint, a refused key); the detail goes to the log. `missing` turns a missing key
        into that 404."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return action(self._client())
        except ClientError as exc:
            if missing and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise NotFound(missing) from None
            raise BackendUnavailable(UNAVAILABLE, detail=f"{self.config.endpoint_url or 'S3'}: {exc}") from None
        except BotoCoreError as exc:
            raise BackendUnavailable(UNAVAILABLE, detail=f"{self.config.endpoint_url or 'S3'}: {exc}") from None

    def _labelled(self, caller: Principal, found: list[SnapshotInfo]) -> list[SnapshotInfo]:
        """The snapshots of the caller's team's collections (an admin's: all), named as it names them."""
        return [replace(s, collection=self.owners.label(caller, s.collection)) for s in found
                if caller.sees_team(owner_of(s.collection)[0])]

    def create(self, caller: Principal, collection: str) -> SnapshotInfo:
        """Of a collection of the caller's own team (shares do not extend to snapshots)."""
        caller.require("snapshots")
        made = self._create(self.owners.resolve(caller, collection))
        return self._labelled(caller, [made])[0]

    def _create(self, collection: str) -> SnapshotInfo:
        now = datetime.now(timezone.utc)
        if self.native:
            from aistack.snapshots.qdrant_native import QdrantSnapshots

            self.store.describe(collection)
            native = QdrantSnapshots(self.qdrant_config)
            try:
                data, ext = native.create(collection), "snapshot"
            finally:
                native.close()
        else:
            data, _ = archive.export(self.store, collection)
            ext = "tar.gz"
        key = f"{self.config.prefix}/{collection}/{now.strftime(STAMP)}.{ext}"
        self.s3(lambda s3: s3.put_object(Bucket=self.config.bucket, Key=key, Body=data))
        return SnapshotInfo(key, collection, now, len(data), KINDS[ext])

    def create_all(self, caller: Principal) -> list[SnapshotInfo]:
        caller.require("snapshots")
        mine = [c.name for c in self.store.list_collections() if caller.sees_team(owner_of(c.name)[0])]
        return self._labelled(caller, [self._create(name) for name in mine])

    def list(self, caller: Principal, collection: str | None = None) -> list[SnapshotInfo]:
        caller.require("snapshots")
        stored = self.owners.resolve(caller, collection) if collection else None
        return self._labelled(caller, self._list(stored))

    def _list(self, collection: str | None = None) -> list[SnapshotInfo]:
        prefix = f"{self.config.prefix}/{collection + '/' if collection else ''}"
        pages = self.s3(lambda s3: list(s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.config.bucket, Prefix=prefix)))
        found = [self._parse(obj["Key"], obj["Size"]) for page in pages for obj in page.get("Contents", [])]
        return sorted((f for f in found if f is not None), key=lambda s: (s.collection, s.created_at))

    def _parse(self, key: str, size: int) -> SnapshotInfo | None:
        parts = key[len(self.config.prefix) + 1 :].split("/")
        if len(parts) != 2:
            return None
        stamp, _, ext = parts[1].partition(".")
        try:
            created = datetime.strptime(stamp, STAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            return None
        return SnapshotInfo(key, parts[0], created, size, KINDS.get(ext, "unknown"))

    def restore(self, caller: Principal, key: str, target: str | None = None) -> dict[str, Any]:
        """Into the collection it was taken of, or `target`: both the caller's team's."""
        caller.require("snapshots")
        info = self._parse(key, 0)
        if info is None:
            raise InvalidRequest(f"'{key}' is not a snapshot key under {self.config.prefix}/", param="key")
        missing = f"no snapshot '{key}' in bucket {self.config.bucket}"
        if not caller.sees_team(owner_of(info.collection)[0]):
            raise NotFound(missing, param="key")  # another team's: as if it were not there
        data = self.s3(lambda s3: s3.get_object(Bucket=self.config.bucket, Key=key)["Body"].read(), missing=missing)
        collection = self.owners.resolve(caller, target) if target else info.collection
        restored = self._restore(info, data, collection)
        return {**restored, "collection": self.owners.label(caller, collection)}

    def _restore(self, info: SnapshotInfo, data: bytes, collection: str) -> dict[str, Any]:
        key = info.key
        if info.kind == "qdrant":
            if not self.native:
                raise InvalidRequest("a Qdrant server snapshot restores only into a Qdrant server")
            from aistack.snapshots.qdrant_native import QdrantSnapshots

            native = QdrantSnapshots(self.qdrant_config)
            try:
                native.restore(collection, data)
            finally:
                native.close()
            return {"key": key, "collection": collection, "points": self.store.describe(collection).points}
        return {"key": key, "collection": collection, "points": archive.restore(self.store, data, collection)}

    def prune(self, caller: Principal, dry_run: bool = False) -> dict[str, list[str]]:
        """The caller's team's snapshots past retention (an admin's: every team's)."""
        caller.require("snapshots")
        by_collection: dict[str, list[SnapshotInfo]] = {}
        for snap in self._list():
            if not caller.sees_team(owner_of(snap.collection)[0]):
                continue
            by_collection.setdefault(snap.collection, []).append(snap)
        kept, deleted = [], []
        for snaps in by_collection.values():
            keep = to_keep([(s.created_at, s.key) for s in snaps], self.config.keep_daily, self.config.keep_weekly)
            for snap in snaps:
                (kept if snap.key in keep else deleted).append(snap.key)
        if not dry_run:
            for key in deleted:
                self.s3(lambda s3, key=key: s3.delete_object(Bucket=self.config.bucket, Key=key))
        return {"kept": sorted(kept), "deleted": sorted(deleted)}
