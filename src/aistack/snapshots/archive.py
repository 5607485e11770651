"""A portable, exact copy of one collection: a tar.gz with manifest.json and points.jsonl
(vectors as base64 float32, written bit for bit; the store may renormalise them on restore).

Used for embedded Qdrant, which has no snapshot API, and for Chroma. The export holds the
store's lock, so no write in this process lands halfway through: a consistent copy."""

from __future__ import annotations

import base64
import io
import json
import tarfile
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


def read(data: bytes) -> tuple[dict[str, Any], list[Point]]:
    """The manifest and every point, all checked before anything is written: a corrupt archive is
    a 400 that changes nothing."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        manifest = json.loads(tar.extractfile("manifest.json").read())
        lines = tar.extractfile("points.jsonl").read().decode().splitlines()
    except (tarfile.TarError, KeyError, AttributeError, ValueError, EOFError, OSError) as exc:
        raise InvalidRequest(f"not an aistack collection snapshot: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise InvalidRequest(f"unknown snapshot format {found!r}; expected {FORMAT}")
    try:
        dimension = int(manifest["dimension"])
        points = [_point(line) for line in lines if line]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"the snapshot is corrupt ({type(exc).__name__}: {exc}); nothing was restored") from None
    if manifest.get("points", len(points)) != len(points):
        raise InvalidRequest(f"the snapshot's manifest says {manifest['points']} points but it holds {len(points)}; "
                             "nothing was restored")
    if any(p.vector.shape != (dimension,) for p in points):
        raise InvalidRequest(f"the snapshot holds vectors that are not {dimension}-dimensional; nothing was restored")
    return manifest, points


def _point(line: str) -> Point:
    row = json.loads(line)
    return Point(row["id"], _vector(row["vector"]), row["text"], row["payload"])


def _write(store: VectorStore, name: str, dimension: int, metadata: dict[str, Any], points: list[Point]) -> None:
    from aistack.errors import NotFound

    try:
        store.delete_collection(name)
    except NotFound:
        pass
    store.create_collection(name, dimension, metadata)
    for start in range(0, len(points), BATCH):
        store.upsert(name, points[start:start + BATCH])


def staging_name(target: str) -> str:
    return f"{target[:50]}-restoring"


def restore(store: VectorStore, data: bytes, target: str) -> int:
    """Replace collection `target` with the snapshot's points; returns how many.

    The archive is read and checked whole first; the points then go into a staging collection
    whose count is checked, and only then is the target replaced (from the checked points) and
    the staging copy dropped. A corrupt archive, or a store that fails while staging, leaves the
    target as it was."""
    manifest, points = read(data)
    dimension = int(manifest["dimension"])
    metadata = {k: v for k, v in (manifest.get("metadata") or {}).items() if k != "dimension"}
    staging = staging_name(target)
    with store.lock:
        _write(store, staging, dimension, metadata, points)
        staged = store.describe(staging).points
        if staged != len(points):
            store.delete_collection(staging)
            raise InvalidRequest(f"staging the restore kept {staged} of {len(points)} points; {target} is unchanged")
        _write(store, target, dimension, metadata, points)
        store.delete_collection(staging)
    return len(points)
