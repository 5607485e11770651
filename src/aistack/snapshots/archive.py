"""A portable, exact copy of one collection: a tar.gz with manifest.json and points.jsonl
(vectors as base64 float32, written bit for bit; the store may renormalise them on restore).

Used for embedded Qdrant, which has no snapshot API, and for Chroma. The export holds the
store's lock, so no write in this process lands halfway through: a consistent copy."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np

from aistack.errors import InvalidRequest
from aistack.vectorstore import Point, VectorStore

FORMAT = "aistack-collection/1"
BATCH = 256


def _vector(data: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data), dtype="<f4").copy()


def _point_json(p: Point) -> dict[str, Any]:
    return {"id": p.id, "vector": base64.b64encode(np.asarray(p.vector, dtype="<f4").tobytes()).decode(),
            "text": p.text, "payload": p.payload}


def export(store: VectorStore, name: str) -> tuple[bytes, dict[str, Any]]:
    with store.lock:
        info = store.describe(name)
        lines = [json.dumps(_point_json(p), sort_keys=True) for p in store.points(name)]
    manifest = {"format": FORMAT, "collection": name, "dimension": info.dimension, "points": len(lines),
                "metadata": info.metadata, "backend": store.name,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, data in (("manifest.json", json.dumps(manifest, indent=2).encode()),
                             ("points.jsonl", "\n".join(lines).encode())):
            entry = tarfile.TarInfo(member)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue(), manifest


def read(data: bytes) -> tuple[dict[str, Any], Iterator[Point]]:
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        manifest = json.loads(tar.extractfile("manifest.json").read())
        lines = tar.extractfile("points.jsonl").read().decode().splitlines()
    except (tarfile.TarError, KeyError, AttributeError, ValueError) as exc:
        raise InvalidRequest(f"not an aistack collection snapshot: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise InvalidRequest(f"unknown snapshot format {manifest.get('format')!r}; expected {FORMAT}")

    def points() -> Iterator[Point]:
        for line in lines:
            if not line:
                continue
            row = json.loads(line)
            yield Point(row["id"], _vector(row["vector"]), row["text"], row["payload"])

    return manifest, points()


def restore(store: VectorStore, data: bytes, target: str) -> int:
    """Replace collection `target` with the snapshot's points; returns how many."""
    from aistack.errors import NotFound

    manifest, points = read(data)
    with store.lock:
        try:
            store.delete_collection(target)
        except NotFound:
            pass
        store.create_collection(target, int(manifest["dimension"]),
                                {k: v for k, v in manifest["metadata"].items() if k != "dimension"})
        batch: list[Point] = []
        count = 0
        for point in points:
            batch.append(point)
            if len(batch) == BATCH:
                store.upsert(target, batch)
                count += len(batch)
                batch = []
        store.upsert(target, batch)
        return count + len(batch)
