"""Embedded Qdrant on qdrant-edge (Qdrant's engine in process, HNSW), with every index built in a
child process (`edge_build`): building one in the gateway would hold the interpreter lock.

A collection is a folder (named from a hash of its name) with `collection.json` (name, dimension,
metadata, the sealed shards) and shards: one `live` shard that takes every write and is searched
exactly, and sealed shards with an HNSW index. When the live shard holds `seal_at` points they are
exported and a child builds a sealed shard from them, merged with the newest sealed shards that are
not bigger than what it already holds, so a collection has a handful of shards. Writes go on during
the build; what they touch meanwhile is taken out of the new shard before it is swapped in. A
search asks every shard and keeps the best.

One process holds the folder (a lock file), as with qdrant-client's local mode."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge

from aistack.errors import Conflict, InvalidRequest, NotFound, StoreLocked
from aistack.helpers import die_with_parent
from aistack.processes import stop_group
from aistack.vectorstore.base import SOURCE, CollectionInfo, DocumentInfo, Hit, Point, Where, summarise
from aistack.vectorstore.edge_build import DENSE, shard_config

log = logging.getLogger("aistack.vectorstore.qdrant_edge")
SEAL_AT = 20_000  # live points before they are indexed (the seed's indexing threshold)
PAGE = 1000
LIVE = "live"


def edge_filter(where: Where | None) -> edge.Filter | None:
    if not where:
        return None
    return edge.Filter(must=[
        edge.FieldCondition(key=key, match=edge.MatchAny(list(value)) if isinstance(value, (list, tuple))
                            else edge.MatchValue(value)) for key, value in where.items()])


def folder_of(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:20]


@dataclass
class Collection:
    name: str
    dimension: int
    metadata: dict[str, Any]
    folder: Path
    live: Any
    live_name: str = LIVE
    sealed: dict[str, Any] = field(default_factory=dict)  # shard folder name -> EdgeShard, oldest first
    touched: set[str] | None = None  # ids written or deleted while a seal builds (None: no build)
    builder: subprocess.Popen[bytes] | None = None
    closed: bool = False
    retry_at: int = 0  # after a failed build: the live size at which to try again

    def shards(self) -> list[Any]:
        return [self.live, *self.sealed.values()]

    def save(self) -> None:
        spec = {"name": self.name, "dimension": self.dimension, "metadata": self.metadata, "live": self.live_name,
                "sealed": list(self.sealed)}
        temporary = self.folder / "collection.json.tmp"
        temporary.write_text(json.dumps(spec))
        temporary.replace(self.folder / "collection.json")

    def touch(self, ids: list[str]) -> None:
        """Ids that now live only where this write put them: out of every sealed shard."""
        if self.touched is not None:
            self.touched.update(ids)
        for shard in self.sealed.values():
            shard.update(edge.UpdateOperation.delete_points(ids))


class QdrantEdgeStore:
    name = "qdrant"

    def __init__(self, path: Path, seal_at: int = SEAL_AT):
        self.path = path
        self.location = str(path)
        self.seal_at = seal_at
        self.lock = threading.RLock()  # snapshots hold it too
        path.mkdir(parents=True, exist_ok=True)
        self._held = (path / ".lock").open("w")
        try:
            fcntl.flock(self._held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._held.close()
            raise StoreLocked(
                f"the embedded Qdrant at {path} is in use by another process, usually a running gateway. "
                "Point the CLI at that gateway (--url, or client.url / AISTACK_CLIENT__URL) so it goes "
                "through its API, or stop the gateway first.") from None
        self._collections: dict[str, Collection] = {}
        for spec_file in sorted(path.glob("*/collection.json")):
            collection = self._load(spec_file.parent, json.loads(spec_file.read_text()))
            self._collections[collection.name] = collection
            if collection.live.count(edge.CountRequest(exact=True)) >= seal_at:  # a build the last process cut off
                with self.lock:
                    self._start_seal(collection)

    # --- folders and shards -------------------------------------------------------------

    @staticmethod
    def _load(folder: Path, spec: dict[str, Any]) -> Collection:
        live = spec.get("live", LIVE)
        for stray in folder.iterdir():  # a build or a live shard's renewal that did not finish
            if stray.is_dir() and stray.name not in (live, *spec["sealed"]):
                shutil.rmtree(stray, ignore_errors=True)
        collection = Collection(spec["name"], int(spec["dimension"]), spec["metadata"], folder,
                                edge.EdgeShard.load(str(folder / live)), live,
                                {name: edge.EdgeShard.load(str(folder / name)) for name in spec["sealed"]})
        live_ids = [str(r.id) for r in _scroll(collection.live, None, False, False)]
        for start in range(0, len(live_ids), PAGE):  # a crash between a swap-in and its clean-up
            collection.touch(live_ids[start:start + PAGE])
        return collection

    def _get(self, name: str) -> Collection:
        collection = self._collections.get(name)
        if collection is None:
            raise NotFound(f"collection '{name}' does not exist")
        return collection

    # --- collections --------------------------------------------------------------------

    def create_collection(self, name: str, dimension: int, metadata: dict[str, Any]) -> CollectionInfo:
        with self.lock:
            if name in self._collections:
                raise Conflict(f"collection '{name}' already exists")
            folder = self.path / folder_of(name)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            collection = Collection(name, dimension, {**metadata, "dimension": dimension}, folder,
                                    new_live_shard(folder / LIVE, dimension))
            collection.save()
            self._collections[name] = collection
        return self.describe(name)

    def list_collections(self) -> list[CollectionInfo]:
        with self.lock:
            names = sorted(self._collections)
        return [self.describe(name) for name in names]

    def describe(self, name: str) -> CollectionInfo:
        with self.lock:
            c = self._get(name)
            count = sum(shard.count(edge.CountRequest(exact=True)) for shard in c.shards())
            return CollectionInfo(name, c.dimension, int(count), dict(c.metadata))

    def delete_collection(self, name: str) -> None:
        with self.lock:
            c = self._collections.pop(name, None)
            if c is None:
                raise NotFound(f"collection '{name}' does not exist")
            self._close(c)
            shutil.rmtree(c.folder, ignore_errors=True)

    @staticmethod
    def _renew_live(c: Collection, sealed_ids: set[str]) -> None:
        """A new live shard with what the old one holds beyond `sealed_ids` (the writes made during
        the build). The old one is dropped: a shard that is never optimized keeps every point it
        ever held on disk, deleted or not. Called with the lock held."""
        name = f"live-{uuid.uuid4().hex[:8]}"
        live = new_live_shard(c.folder / name, c.dimension)
        kept = [edge.Point(str(r.id), r.vector, r.payload) for r in _scroll(c.live, None, True, True)
                if str(r.id) not in sealed_ids]
        for start in range(0, len(kept), PAGE):
            live.update(edge.UpdateOperation.upsert_points(kept[start:start + PAGE]))
        old_shard, old_name = c.live, c.live_name
        c.live, c.live_name = live, name
        c.save()
        old_shard.close()
        shutil.rmtree(c.folder / old_name, ignore_errors=True)

    @staticmethod
    def _close(c: Collection) -> None:
        c.closed = True
        if c.builder is not None and c.builder.poll() is None:
            stop_group(c.builder, 1.0)
        for shard in c.shards():
            shard.close()

    # --- points -------------------------------------------------------------------------

    def upsert(self, name: str, points: list[Point]) -> None:
        with self.lock:
            c = self._get(name)
            try:
                c.live.update(edge.UpdateOperation.upsert_points([
                    edge.Point(p.id, {DENSE: np.asarray(p.vector, dtype=np.float32).tolist()},
                               {**p.payload, "text": p.text}) for p in points]))
            except ValueError as exc:
                raise InvalidRequest(f"a point of collection '{name}' was refused: {exc}") from None
            c.touch([p.id for p in points])
            if c.touched is None and c.live.count(edge.CountRequest(exact=True)) >= max(self.seal_at, c.retry_at):
                self._start_seal(c)

    def search(self, name: str, vector: np.ndarray, limit: int,
               score_threshold: float | None = None, where: Where | None = None) -> list[Hit]:
        request = edge.QueryRequest(limit=limit, query=edge.Query.Nearest(np.asarray(vector).tolist(), using=DENSE),
                                    filter=edge_filter(where), score_threshold=score_threshold, with_payload=True)
        with self.lock:
            found = [p for shard in self._get(name).shards() for p in shard.query(request)]
        found.sort(key=lambda p: -p.score)
        hits = []
        for point in found[:limit]:
            payload = dict(point.payload or {})
            hits.append(Hit(str(point.id), float(point.score), payload.pop("text", ""), payload))
        return hits

    def _records(self, name: str, where: Where | None, payload: bool, vectors: bool) -> Iterator[Any]:
        """Every record of every shard, a page at a time, with the lock held throughout: a seal
        that finished halfway would move points past the iteration."""
        with self.lock:
            for shard in self._get(name).shards():
                yield from _scroll(shard, where, payload, vectors)

    def ids_for_source(self, name: str, source: str) -> set[str]:
        return {str(r.id) for r in self._records(name, {SOURCE: source}, False, False)}

    def delete_ids(self, name: str, ids: set[str]) -> None:
        if not ids:
            return
        with self.lock:
            c = self._get(name)
            c.live.update(edge.UpdateOperation.delete_points(list(ids)))
            c.touch(list(ids))

    def documents(self, name: str) -> list[DocumentInfo]:
        return summarise(dict(r.payload or {}) for r in self._records(name, None, True, False))

    def points(self, name: str) -> Iterator[Point]:
        for record in self._records(name, None, True, True):
            payload = dict(record.payload or {})
            yield Point(str(record.id), np.asarray(record.vector[DENSE], dtype=np.float32), payload.pop("text", ""),
                        payload)

    def indexed(self, name: str, timeout: float) -> bool:
        """Waits until no build of the collection runs and its live shard is below `seal_at`;
        False when `timeout` seconds pass first (benchmarks and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                c = self._get(name)
                if c.touched is None and c.live.count(edge.CountRequest(exact=True)) < max(self.seal_at, c.retry_at):
                    return True
            time.sleep(0.05)
        return False

    def ping(self) -> None:
        if not self.path.is_dir():
            raise NotFound(f"the embedded Qdrant folder {self.path} is gone")

    def close(self) -> None:
        with self.lock:
            for c in self._collections.values():
                self._close(c)
            self._collections.clear()
            self._held.close()

    # --- sealing ------------------------------------------------------------------------

    def _start_seal(self, c: Collection) -> None:
        """Export the live points (and the sealed shards to merge) and start the child that indexes
        them; a thread waits for it and swaps the new shard in. Called with the lock held; a
        failure here leaves everything where it was, and the write that called goes through."""
        try:
            self._export_and_build(c)
        except Exception:  # noqa: BLE001 - the points stay live and searchable
            log.exception("exporting a qdrant-edge shard for indexing failed", extra={"fields": {"collection": c.name}})
            self._give_up(c)

    def _give_up(self, c: Collection) -> None:
        with self.lock:
            c.builder, c.touched = None, None
            c.retry_at = c.live.count(edge.CountRequest(exact=True)) + self.seal_at
            for work in c.folder.glob("build-*"):
                shutil.rmtree(work, ignore_errors=True)

    def _export_and_build(self, c: Collection) -> None:
        merged: list[str] = []
        batch = c.live.count(edge.CountRequest(exact=True))
        for shard_name in reversed(list(c.sealed)):  # newest first, while not bigger than the batch
            size = c.sealed[shard_name].count(edge.CountRequest(exact=True))
            if size > batch:
                break
            merged.append(shard_name)
            batch += size
        work = c.folder / f"build-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        exported: list[str] = []
        # filled a row at a time: one np.asarray over 80k lists held the interpreter 0.9 s
        vectors = np.lib.format.open_memmap(work / "vectors.npy", mode="w+", dtype=np.float32,
                                            shape=(batch, c.dimension))
        with (work / "points.jsonl").open("w") as rows:
            for shard in [c.live, *(c.sealed[m] for m in merged)]:
                for record in _scroll(shard, None, True, True):
                    if len(exported) == batch:
                        raise RuntimeError(f"the shards hold more points than their count of {batch}")
                    vectors[len(exported)] = record.vector[DENSE]
                    exported.append(str(record.id))
                    rows.write(json.dumps({"id": str(record.id), "payload": record.payload}) + "\n")
        vectors.flush()
        del vectors
        if len(exported) != batch:
            raise RuntimeError(f"{len(exported)} points exported of the {batch} counted")
        c.touched = set()
        threading.Thread(target=self._seal_or_give_up, args=(c, work, exported, merged),
                         name=f"qdrant-edge-seal-{c.folder.name}", daemon=True).start()

    def _seal_or_give_up(self, c: Collection, work: Path, exported: list[str], merged: list[str]) -> None:
        try:
            self._seal(c, work, exported, merged)
        except Exception:  # noqa: BLE001 - the points stay live and searchable; a later write retries
            log.exception("sealing a qdrant-edge shard failed", extra={"fields": {"collection": c.name}})
            self._give_up(c)

    def _seal(self, c: Collection, work: Path, exported: list[str], merged: list[str]) -> None:
        """On the thread that waits for it, the child dies with it (PR_SET_PDEATHSIG): a gateway
        that dies takes its builds along."""
        with self.lock:
            if c.closed:
                shutil.rmtree(work, ignore_errors=True)
                return
            c.builder = builder = subprocess.Popen(
                [sys.executable, "-m", "aistack.vectorstore.edge_build", str(work)], stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent)
        code = builder.wait()
        with self.lock:
            c.builder = None
            if c.closed:
                shutil.rmtree(work, ignore_errors=True)
                return
            if code != 0:
                log.error("indexing a qdrant-edge shard failed; its points stay in the live shard",
                          extra={"fields": {"collection": c.name, "status": code}})
                self._give_up(c)
                return
            touched, c.touched = c.touched or set(), None
            shard_name = f"sealed-{uuid.uuid4().hex[:8]}"
            (work / "shard").rename(c.folder / shard_name)
            shutil.rmtree(work, ignore_errors=True)
            sealed = edge.EdgeShard.load(str(c.folder / shard_name))
            stale = sorted(touched & set(exported))
            for start in range(0, len(stale), PAGE):
                sealed.update(edge.UpdateOperation.delete_points(stale[start:start + PAGE]))
            for old in merged:
                c.sealed.pop(old).close()
            c.sealed[shard_name] = sealed
            c.save()  # from here the new shard is the collection's; what follows is clean-up
            for old in merged:
                shutil.rmtree(c.folder / old, ignore_errors=True)
            self._renew_live(c, set(exported) - touched)
            log.info("qdrant-edge shard indexed", extra={"fields": {
                "collection": c.name, "points": len(exported), "shards": len(c.sealed)}})
            if c.live.count(edge.CountRequest(exact=True)) >= self.seal_at:  # written while this one built
                self._start_seal(c)


def new_live_shard(folder: Path, dimension: int) -> Any:
    shard = edge.EdgeShard.create(str(folder), shard_config(dimension))
    shard.update(edge.UpdateOperation.create_field_index(SOURCE, edge.PayloadSchemaType.Keyword))
    return shard


def _scroll(shard: Any, where: Where | None, payload: bool, vectors: bool) -> Iterator[Any]:
    offset = None
    while True:
        records, offset = shard.scroll(edge.ScrollRequest(limit=PAGE, offset=offset, filter=edge_filter(where),
                                                          with_payload=payload, with_vector=vectors))
        yield from records
        if offset is None:
            return
