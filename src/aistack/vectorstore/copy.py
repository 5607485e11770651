"""Copying collections from one vector store to another (`aistack collections migrate`): every
point with its vector, text and payload, streamed in batches, the collection's metadata kept, and
the count checked at the end. Stored names are copied as they are, so each collection keeps its
owning team (`<team>__<name>`)."""

from __future__ import annotations

from aistack.errors import InvalidRequest
from aistack.vectorstore.base import Point, VectorStore

BATCH = 256


def copy_collection(source: VectorStore, target: VectorStore, name: str) -> int:
    """Copies `name` into a new collection of the same name in `target` (Conflict when one exists
    there: nothing is overwritten); returns the points copied. A copy whose count does not match
    is deleted again and reported."""
    info = source.describe(name)
    target.create_collection(name, info.dimension, {k: v for k, v in info.metadata.items() if k != "dimension"})
    batch: list[Point] = []
    try:
        with source.lock:  # no write of this process lands halfway through the copy
            for point in source.points(name):
                batch.append(point)
                if len(batch) == BATCH:
                    target.upsert(name, batch)
                    batch = []
            if batch:
                target.upsert(name, batch)
        copied = target.describe(name).points
        if copied != info.points:
            raise InvalidRequest(f"collection '{name}': {copied} of {info.points} points arrived; the copy was removed")
    except BaseException:
        target.delete_collection(name)
        raise
    return copied
