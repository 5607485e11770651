"""The contract every vector store passes (haystack's document_store.py pattern): a backend's
test module subclasses VectorStoreContract and provides a `store` fixture."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from aistack.errors import Conflict, NotFound
from aistack.vectorstore import Point, VectorStore

DIM = 8


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def point(source: str, index: int, vector: np.ndarray, text: str | None = None, page: int | None = None) -> Point:
    text = text or f"{source} chunk {index}"
    payload = {"source": source, "filename": source.rsplit("/", 1)[-1], "page": page, "chunk_index": index,
               "char_count": len(text), "content_hash": f"h{index}", "ingested_at": f"2026-11-27T00:00:0{index}Z",
               "metadata": {"team": "docs"}}
    return Point(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}:{index}")), vector, text, payload)


class VectorStoreContract:
    @pytest.fixture
    def collection(self, store: VectorStore) -> str:
        name = f"c{uuid.uuid4().hex[:10]}"
        store.create_collection(name, DIM, {"embedder": "test", "score_threshold": 0.5})
        yield name
        try:
            store.delete_collection(name)
        except NotFound:
            pass

    def test_create_describe_list_delete(self, store: VectorStore, collection: str) -> None:
        info = store.describe(collection)
        assert (info.name, info.dimension, info.points) == (collection, DIM, 0)
        assert info.metadata["embedder"] == "test" and info.metadata["score_threshold"] == 0.5
        assert collection in [c.name for c in store.list_collections()]
        with pytest.raises(Conflict):
            store.create_collection(collection, DIM, {})
        store.delete_collection(collection)
        assert collection not in [c.name for c in store.list_collections()]
        with pytest.raises(NotFound):
            store.describe(collection)

    def test_missing_collection_is_not_found_everywhere(self, store: VectorStore) -> None:
        for call in (lambda: store.describe("nope-missing"), lambda: store.search("nope-missing", unit(1), 3),
                     lambda: store.upsert("nope-missing", [point("a", 0, unit(1))]),
                     lambda: store.documents("nope-missing"), lambda: store.delete_collection("nope-missing")):
            with pytest.raises(NotFound):
                call()

    def test_upsert_is_idempotent_and_search_is_cosine(self, store: VectorStore, collection: str) -> None:
        points = [point("docs/a.md", 0, unit(1, 0)), point("docs/a.md", 1, unit(1, 1)),
                  point("docs/b.pdf", 0, unit(0, 1), page=3)]
        store.upsert(collection, points)
        store.upsert(collection, points)
        assert store.describe(collection).points == 3
        hits = store.search(collection, unit(1, 0), 3)
        assert [h.id for h in hits] == [points[0].id, points[1].id, points[2].id]
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[1].score == pytest.approx(2**-0.5, abs=1e-4)
        assert hits[0].text == "docs/a.md chunk 0"
        assert hits[0].payload["metadata"] == {"team": "docs"} and hits[0].payload["page"] is None
        assert hits[2].payload["page"] == 3 and hits[2].payload["filename"] == "b.pdf"

    def test_threshold_and_filters(self, store: VectorStore, collection: str) -> None:
        store.upsert(collection, [point("a", 0, unit(1, 0)), point("a", 1, unit(1, 1)), point("b", 0, unit(0, 1))])
        assert len(store.search(collection, unit(1, 0), 5, score_threshold=0.9)) == 1
        assert {h.payload["source"] for h in store.search(collection, unit(1, 0), 5, where={"source": "b"})} == {"b"}
        both = store.search(collection, unit(1, 0), 5, where={"source": ["a", "b"], "chunk_index": 0})
        assert {h.payload["source"] for h in both} == {"a", "b"}

    def test_documents_by_source(self, store: VectorStore, collection: str) -> None:
        a = [point("a", i, unit(1, i)) for i in range(3)]
        store.upsert(collection, a + [point("b", 0, unit(0, 1))])
        docs = store.documents(collection)
        assert [(d.source, d.chunks) for d in docs] == [("a", 3), ("b", 1)]
        assert store.ids_for_source(collection, "a") == {p.id for p in a}
        store.delete_ids(collection, {a[0].id, a[1].id})
        assert store.ids_for_source(collection, "a") == {a[2].id}
        assert store.describe(collection).points == 2

    def test_points_round_trip(self, store: VectorStore, collection: str) -> None:
        original = [point("a", i, unit(1, i, 2)) for i in range(3)]
        store.upsert(collection, original)
        back = {p.id: p for p in store.points(collection)}
        assert set(back) == {p.id for p in original}
        for p in original:
            assert np.allclose(back[p.id].vector, p.vector, atol=1e-6)
            assert back[p.id].text == p.text
            assert back[p.id].payload == p.payload
