"""Every vector store passes the same contract: embedded Qdrant (on qdrant-edge, the default, and
in qdrant-client's local mode), Chroma (a real server and a local folder) and pgvector (a real
PostgreSQL 18 with pgvector 0.8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aistack.testing.vectorstore import VectorStoreContract
from support.pgvector_server import pgvector_server
from support.servers import ServerProcess, start_chroma

from aistack.errors import BackendUnavailable, StoreLocked
from aistack.settings.model import Settings
from aistack.vectorstore import create_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_chroma(tmp_path_factory.mktemp("chroma"))
    yield server
    server.stop()


class TestEmbeddedQdrantLocalMode(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path):
        store = create_store(Settings.model_validate({"home": str(tmp_path), "vectorstore": {"qdrant": {
            "embedded": "local"}}}))
        yield store
        store.close()


class TestEmbeddedQdrantEdge(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path):
        store = create_store(edge_settings(tmp_path))
        yield store
        store.close()


def edge_settings(home: Path, **extra: object) -> Settings:
    return Settings.model_validate({"home": str(home), "vectorstore": {"qdrant": {"embedded": "edge", **extra}}})


class TestChromaServer(VectorStoreContract):
    @pytest.fixture
    def store(self, chroma_server: ServerProcess):
        settings = Settings.model_validate({"vectorstore": {"backend": "chroma", "chroma": {"url": chroma_server.url}}})
        store = create_store(settings)
        yield store
        store.close()


@pytest.fixture(scope="module")
def pgvector_url() -> Iterator[str]:
    with pgvector_server() as url:
        yield url


def pgvector_settings(url: str, **extra: object) -> Settings:
    return Settings.model_validate({"vectorstore": {"backend": "pgvector", "pgvector": {"url": url, **extra}}})


class TestPgvector(VectorStoreContract):
    @pytest.fixture
    def store(self, pgvector_url: str):
        store = create_store(pgvector_settings(pgvector_url))
        yield store
        store.close()


def test_pgvector_takes_any_collection_name_and_finds_through_a_narrow_filter(pgvector_url: str) -> None:
    import numpy as np

    from aistack.vectorstore import Point

    store = create_store(pgvector_settings(pgvector_url, ef_search=8))
    name = 'team "a"; DROP TABLE x; --'
    store.create_collection(name, 4, {})
    try:
        rng = np.random.default_rng(0)
        points = [Point(f"p{i}", rng.normal(size=4).astype(np.float32), f"t{i}", {"source": "rare" if i == 777 else "common"})
                  for i in range(2000)]
        for start in range(0, len(points), 500):
            store.upsert(name, points[start:start + 500])
        # one point in 2,000 matches, far below ef_search's reach: still found (by the GIN index here,
        # or by HNSW's iterative scan on a table where the planner prefers it)
        [hit] = store.search(name, np.ones(4, dtype=np.float32), 5, where={"source": "rare"})
        assert hit.id == "p777" and hit.payload == {"source": "rare"}
        assert [c.name for c in store.list_collections()] == [name]
    finally:
        store.delete_collection(name)
        store.close()


def test_pgvector_unreachable_is_a_503_without_the_password() -> None:
    store = create_store(pgvector_settings("postgresql://aistack:hunter2@127.0.0.1:9/x", timeout=1))
    with pytest.raises(BackendUnavailable) as caught:
        store.list_collections()
    assert "cannot be reached" in caught.value.message
    assert "hunter2" not in caught.value.message and "hunter2" not in str(caught.value.detail)


class TestChromaLocalFolder(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path):
        store = create_store(Settings.model_validate({"home": str(tmp_path), "vectorstore": {"backend": "chroma"}}))
        yield store
        store.close()


def test_embedded_qdrant_held_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from qdrant_client import QdrantClient; "
        f"c = QdrantClient(path={str(tmp_path / 'qdrant')!r}); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLocked, match="in use by another process.*--url"):
            create_store(Settings.model_validate({"home": str(tmp_path), "vectorstore": {"qdrant": {
                "embedded": "local"}}}))
    finally:
        holder.kill()
        holder.wait()


def hybrid_retrieval_finds_the_ports_page(store: dict, tmp_path: Path) -> None:
    from support.corpus import mixed_folder

    from aistack.container import Container
    from aistack.wire.knowledge import RetrievalOptions

    c = Container(Settings.model_validate({"home": str(tmp_path), "vectorstore": store}))
    c.knowledge.ingestor.ingest_path("hybrid", mixed_folder(tmp_path / "docs"))
    try:
        result = c.knowledge.retriever.retrieve("Which port does Qdrant use for gRPC?", RetrievalOptions(collection="hybrid"))
        assert result.retrieval == "hybrid" and result.hits[0].payload["filename"] == "ports.md"
        again = c.knowledge.ingestor.ingest_path("hybrid", tmp_path / "docs").as_dict()
        assert again["unchanged"] == again["files"] - again["failed"] > 0 and again["chunks_added"] == 0  # none twice
    finally:
        c.store.delete_collection("hybrid")
        c.store.close()


def test_hybrid_retrieval_works_on_chroma_too(chroma_server: ServerProcess, tmp_path: Path) -> None:
    hybrid_retrieval_finds_the_ports_page({"backend": "chroma", "chroma": {"url": chroma_server.url}}, tmp_path)


def test_hybrid_retrieval_works_on_pgvector_too(pgvector_url: str, tmp_path: Path) -> None:
    hybrid_retrieval_finds_the_ports_page({"backend": "pgvector", "pgvector": {"url": pgvector_url}}, tmp_path)


def exact_points(store, name: str) -> dict[str, tuple]:
    return {p.id: (p.vector.tolist(), p.text, p.payload) for p in store.points(name)}


def test_collections_migrate_copies_each_collection_exactly_and_it_stays_its_teams(pgvector_url: str,
                                                                                  tmp_path: Path) -> None:
    import anyio
    import numpy as np
    from support.cli import invoke
    from support.corpus import mixed_folder

    from aistack.container import Container
    from aistack.principals import Principal

    home = tmp_path / "home"
    env = {"AISTACK_HOME": str(home), "AISTACK_VECTORSTORE__PGVECTOR__URL": pgvector_url}
    embedded = Container(Settings(home=home))
    embedded.knowledge.ingestor.ingest_path("red__manuals", mixed_folder(tmp_path / "docs"))  # team red's
    embedded.knowledge.ingestor.ingest_path("handbook", tmp_path / "docs")  # the default team's
    before = {name: exact_points(embedded.store, name) for name in ("red__manuals", "handbook")}
    embedded.store.close()  # the command opens the embedded folder itself

    done = invoke("collections", "migrate", "--to", "pgvector", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    for name, points in before.items():
        assert f"{name}: {len(points)} points copied to pgvector" in done.stdout
    again = invoke("collections", "migrate", "--to", "pgvector", env=env)
    assert again.returncode == 0 and again.stdout.count("already in pgvector, left as it is") == 2

    moved = Container(Settings.model_validate({"home": str(home), "vectorstore": {
        "backend": "pgvector", "pgvector": {"url": pgvector_url}}}))
    try:
        for name, points in before.items():
            after = exact_points(moved.store, name)
            assert after.keys() == points.keys()
            for id_, (vector, text, payload) in points.items():
                assert after[id_][1:] == (text, payload)
                assert np.allclose(after[id_][0], vector, rtol=0, atol=1e-6)
        red, blue = Principal("red-key", team="red"), Principal("blue-key", team="blue")
        assert [c.name for c in anyio.run(moved.knowledge.collections, red)] == ["manuals"]
        assert [c.name for c in anyio.run(moved.knowledge.collections, blue)] == []
    finally:
        for name in before:
            moved.store.delete_collection(name)
        moved.store.close()


def test_collections_migrate_to_the_store_in_use_or_an_unknown_one_is_an_error(tmp_path: Path) -> None:
    from support.cli import invoke

    same = invoke("collections", "migrate", "--to", "qdrant", env={"AISTACK_HOME": str(tmp_path)})
    assert same.returncode == 1 and "is the store in use" in same.stderr
    unknown = invoke("collections", "migrate", "--to", "nosuch", env={"AISTACK_HOME": str(tmp_path)})
    assert unknown.returncode == 1 and "unknown vector store backend 'nosuch'" in unknown.stderr


def test_edge_indexes_in_child_processes_and_keeps_every_write_made_meanwhile(tmp_path: Path) -> None:
    import uuid

    import numpy as np

    from aistack.vectorstore import Point

    rng = np.random.default_rng(0)
    vectors: dict[str, np.ndarray] = {}

    def put(store, numbers) -> None:
        points = []
        for i in numbers:
            vector = rng.normal(size=8).astype(np.float32)
            vectors[str(uuid.UUID(int=i + 1))] = vector / np.linalg.norm(vector)
            points.append(Point(str(uuid.UUID(int=i + 1)), vectors[str(uuid.UUID(int=i + 1))], f"t{i}",
                                {"source": f"s{i % 7}"}))
        store.upsert("big", points)

    store = create_store(edge_settings(tmp_path, seal_at=100))
    store.create_collection("big", 8, {})
    for start in range(0, 1200, 60):  # builds start at 100 live points and run while writes go on
        put(store, range(start, start + 60))
        gone = str(uuid.UUID(int=start + 1))
        store.delete_ids("big", {gone})
        del vectors[gone]
        put(store, [start + 10, max(0, start - 50)])  # rewritten: the newest vector must win
    assert store.indexed("big", timeout=120)
    big = store._get("big")
    assert 1 <= len(big.sealed) <= 4 and big.live.count(__import__("qdrant_edge").CountRequest()) < 100
    # no shard left behind: merged ones and each old live shard (which keeps every point it ever held) are gone
    assert {p.name for p in big.folder.iterdir() if p.is_dir()} == {big.live_name, *big.sealed}

    def check(store) -> None:
        assert store.describe("big").points == len(vectors)
        back = {p.id: p.vector for p in store.points("big")}
        assert back.keys() == vectors.keys()
        assert all(np.allclose(back[i], v, atol=1e-6) for i, v in vectors.items())
        for point_id in list(vectors)[::37]:
            [best] = store.search("big", vectors[point_id], 1)
            assert best.id == point_id and best.score == pytest.approx(1.0, abs=1e-4)
        assert len(store.search("big", vectors[point_id], 5, where={"source": "s3"})) == 5

    check(store)
    put(store, range(2000, 2150))  # a build starts; closing the store cuts it off
    store.close()
    reopened = create_store(edge_settings(tmp_path, seal_at=100))
    try:
        assert reopened.indexed("big", timeout=120)  # the cut-off build is started again on opening
        assert reopened._get("big").live.count(__import__("qdrant_edge").CountRequest()) < 100
        check(reopened)
    finally:
        reopened.close()


def test_edge_held_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from aistack.settings.model import Settings; from aistack.vectorstore import create_store; "
        f"s = create_store(Settings.model_validate({{'home': {str(tmp_path)!r}, 'vectorstore': {{'qdrant': "
        "{'embedded': 'edge'}}})); print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLocked, match="in use by another process.*--url"):
            create_store(edge_settings(tmp_path))
    finally:
        holder.kill()
        holder.wait()


def test_the_local_mode_folder_moves_to_qdrant_edge_once_and_exactly(tmp_path: Path) -> None:
    from aistack.testing.vectorstore import point, unit

    old = create_store(Settings.model_validate({"home": str(tmp_path), "vectorstore": {"qdrant": {"embedded": "local"}}}))
    old.create_collection("red__notes", 8, {"embedder": "test"})
    points = [point("docs/a.md", i, unit(1, i, 3)) for i in range(40)]
    old.upsert("red__notes", points)
    old.close()

    moved = create_store(edge_settings(tmp_path))
    try:
        assert [c.name for c in moved.list_collections()] == ["red__notes"]
        assert moved.describe("red__notes").metadata["embedder"] == "test"
        back = {p.id: p for p in moved.points("red__notes")}
        assert {i: (b.text, b.payload) for i, b in back.items()} == {p.id: (p.text, p.payload) for p in points}
        moved.delete_collection("red__notes")
    finally:
        moved.close()
    again = create_store(edge_settings(tmp_path))  # once: what was deleted since does not come back
    try:
        assert again.list_collections() == []
    finally:
        again.close()
    assert (tmp_path / "qdrant" / "collection").is_dir()  # the old folder is left as it was


def test_edge_keeps_the_points_of_a_failed_build_live_and_searchable(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import aistack.vectorstore.qdrant_edge as qdrant_edge
    from aistack.testing.vectorstore import point, unit

    monkeypatch.setattr(qdrant_edge.sys, "executable", "/bin/false")  # every build's child exits 1
    store = create_store(edge_settings(tmp_path, seal_at=100))
    try:
        store.create_collection("c", 8, {})
        points = [point("a", i, unit(1, i % 5, i)) for i in range(120)]
        store.upsert("c", points)
        assert store.indexed("c", timeout=30)  # given up, not retried at once
        assert store._get("c").sealed == {} and store.describe("c").points == 120
        assert store.search("c", points[7].vector, 1)[0].id == points[7].id
        assert not [p for p in (tmp_path / "qdrant-edge").glob("*/build-*")]  # its export is cleaned up
    finally:
        store.close()
