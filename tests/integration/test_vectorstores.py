"""Both vector stores pass the same contract: embedded Qdrant and a real Chroma server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aistack.testing.vectorstore import VectorStoreContract
from support.servers import ServerProcess, start_chroma

from aistack.errors import StoreLocked
from aistack.settings.model import Settings
from aistack.vectorstore import create_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_chroma(tmp_path_factory.mktemp("chroma"))
    yield server
    server.stop()


class TestEmbeddedQdrant(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path):
        store = create_store(Settings(home=tmp_path), "qdrant")
        yield store
        store.close()


class TestChromaServer(VectorStoreContract):
    @pytest.fixture
    def store(self, chroma_server: ServerProcess):
        settings = Settings.model_validate({"vectorstore": {"backend": "chroma", "chroma": {"url": chroma_server.url}}})
        store = create_store(settings)
        yield store
        store.close()


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
            create_store(Settings(home=tmp_path), "qdrant")
    finally:
        holder.kill()
        holder.wait()


def test_hybrid_retrieval_works_on_chroma_too(chroma_server: ServerProcess, tmp_path: Path) -> None:
    from support.corpus import mixed_folder

    from aistack.container import Container
    from aistack.wire.knowledge import RetrievalOptions

    settings = Settings.model_validate({"home": str(tmp_path), "vectorstore": {
        "backend": "chroma", "chroma": {"url": chroma_server.url}}})
    c = Container(settings)
    c.knowledge.ingestor.ingest_path("hybrid-chroma", mixed_folder(tmp_path / "docs"))
    try:
        result = c.knowledge.retriever.retrieve("Which port does Qdrant use for gRPC?", RetrievalOptions(collection="hybrid-chroma"))
        assert result.retrieval == "hybrid" and result.hits[0].payload["filename"] == "ports.md"
    finally:
        c.store.delete_collection("hybrid-chroma")
