"""Collections per domain, as in the seed: names, per-collection settings, and the guard that a
collection is only ever queried with the embedder that built it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aistack.embeddings import Embedder
from aistack.errors import Conflict, InvalidRequest, NotFound
from aistack.settings import Settings
from aistack.vectorstore import CollectionInfo, VectorStore

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,62}[A-Za-z0-9]")  # fullmatch: "$" would let a trailing newline through


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidRequest(
            f"Invalid collection name '{name}': use 3 to 64 letters, digits, '-' or '_', "
            "starting and ending with a letter or digit.", param="collection")
    return name


# the store's names: a team's prefix (up to 32 characters and "__") before the caller's name
STORED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,96}[A-Za-z0-9]")


def check_stored_name(name: str) -> str:
    if not STORED_NAME.fullmatch(name):
        raise InvalidRequest(f"Invalid collection name '{name}'.", param="collection")
    return name


def as_json(info: CollectionInfo) -> dict[str, Any]:
    return {"object": "collection", "name": info.name, "dimension": info.dimension, "points": info.points,
            "metadata": info.metadata}


@dataclass
class RetrievalConfig:
    top_k: int
    score_threshold: float
    retrieval: str


def create(store: VectorStore, embedder: Embedder, name: str, score_threshold: float | None = None,
           top_k: int | None = None, retrieval: str | None = None) -> CollectionInfo:
    metadata: dict[str, Any] = {"embedder": embedder.model, "score_threshold": score_threshold,
                                "top_k": top_k, "retrieval": retrieval}
    return store.create_collection(check_stored_name(name), embedder.dimension,
                                   {k: v for k, v in metadata.items() if v is not None})


def ensure(store: VectorStore, embedder: Embedder, name: str) -> CollectionInfo:
    """The collection, created on first use; fails if another embedder built it."""
    try:
        info = store.describe(check_stored_name(name))
    except NotFound:
        try:
            return create(store, embedder, name)
        except Conflict:  # created meanwhile by a concurrent ingest
            info = store.describe(name)
    built_with = info.metadata.get("embedder")
    if info.dimension != embedder.dimension or (built_with and built_with != embedder.model):
        raise Conflict(
            f"collection '{name}' was built with embedder '{built_with}' ({info.dimension} dimensions), "
            f"but the configured one is '{embedder.model}' ({embedder.dimension}): re-ingest into a new "
            "collection, or configure the original embedder.")
    return info


def retrieval_config(settings: Settings, info: CollectionInfo) -> RetrievalConfig:
    """Settings file overrides beat what the collection was created with, which beats rag.*."""
    rag = settings.rag
    override = rag.collections.get(info.name)
    meta = info.metadata

    def pick(field: str, default: Any) -> Any:
        if override is not None and getattr(override, field) is not None:
            return getattr(override, field)
        return meta.get(field, default)

    return RetrievalConfig(int(pick("top_k", rag.top_k)), float(pick("score_threshold", rag.score_threshold)),
                           str(pick("retrieval", rag.retrieval)))
