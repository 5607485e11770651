"""Ingestion end to end on the embedded defaults (MiniLM on onnxruntime, embedded Qdrant):
broken files, re-ingestion, changed files, retrieval, and a SIGKILL halfway through."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.corpus import BROKEN, mixed_folder
from support.servers import BIN

from aistack.container import Container
from aistack.wire.knowledge import RetrievalOptions
from aistack.settings.model import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def container(tmp_path: Path):
    c = Container(Settings(home=tmp_path / "home"))
    yield c
    for name in ("store", "embedder"):
        if name in c._bindings:
            c._bindings[name].close()


def test_the_default_embedder_is_normalised_minilm(container: Container) -> None:
    e = container.embedder
    assert (e.model, e.dimension) == ("all-MiniLM-L6-v2", 384)
    texts = ["How do I enable IOMMU?", "Turn on intel_iommu in GRUB for GPU passthrough.", "Bananas are yellow.",
             "word " * 600]
    together = e.embed_documents(texts)
    alone = np.vstack([e.embed_documents([t]) for t in texts])
    assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    assert np.allclose(together, alone, atol=1e-5)  # length-grouped batching changes nothing
    assert together[0] @ together[1] > together[0] @ together[2] + 0.2
    assert e.count_tokens(["word " * 600]) == 256  # cut at max_seq_length


def test_mixed_folder_ingests_good_files_and_reports_broken_ones(container: Container, tmp_path: Path) -> None:
    root = mixed_folder(tmp_path / "docs")
    summary = container.knowledge.ingestor.ingest_path("docs", root).as_dict()
    assert (summary["files"], summary["added"], summary["failed"]) == (7, 3, 4)
    reasons = {Path(r["source"]).name: r["reason"] for r in summary["results"] if r["status"] == "failed"}
    assert set(reasons) == set(BROKEN)
    for name, reason in BROKEN.items():
        assert reason in reasons[name]
    docs = {d.filename: d for d in container.store.documents("docs")}
    assert set(docs) == {"ports.md", "gpu.txt", "ops.pdf"}

    hits = container.knowledge.retriever.retrieve("How long are vector database snapshots kept?",
                                        RetrievalOptions(collection="docs")).hits
    assert hits[0].payload["filename"] == "ops.pdf" and hits[0].payload["page"] == 1
    assert {"source", "filename", "page", "chunk_index", "char_count", "content_hash", "ingested_at"} <= set(hits[0].payload)


def test_reingest_adds_nothing_and_a_changed_file_leaves_no_stale_chunks(container: Container, tmp_path: Path) -> None:
    root = mixed_folder(tmp_path / "docs")
    first = container.knowledge.ingestor.ingest_path("docs", root).as_dict()
    ids = {p.id for p in container.store.points("docs")}
    again = container.knowledge.ingestor.ingest_path("docs", root).as_dict()
    assert (again["unchanged"], again["chunks_added"], again["chunks_removed"]) == (3, 0, 0)
    assert {p.id for p in container.store.points("docs")} == ids

    (root / "gpu.txt").write_text("GPU passthrough moved: see the hardware guide. Nothing about IOMMU here.\n")
    changed = container.knowledge.ingestor.ingest_path("docs", root).as_dict()
    assert (changed["updated"], changed["unchanged"], changed["chunks_added"], changed["chunks_removed"]) == (1, 2, 1, 1)
    gpu = [p for p in container.store.points("docs") if p.payload["filename"] == "gpu.txt"]
    assert [p.text for p in gpu] == [(root / "gpu.txt").read_text().strip()]
    assert len(ids) == first["chunks_added"]


def test_filters_thresholds_and_hybrid(container: Container, tmp_path: Path) -> None:
    container.knowledge.ingestor.ingest_path("docs", mixed_folder(tmp_path / "docs"))
    question = "Which port does Qdrant use for gRPC?"
    only_txt = container.knowledge.retriever.retrieve(question, RetrievalOptions(collection="docs", filter={"filename": "gpu.txt"}))
    assert {h.payload["filename"] for h in only_txt.hits} <= {"gpu.txt"}
    assert container.knowledge.retriever.retrieve(question, RetrievalOptions(collection="docs", score_threshold=0.99)).hits == []
    hybrid = container.knowledge.retriever.retrieve(question, RetrievalOptions(collection="docs", retrieval="hybrid"))
    assert hybrid.hits[0].payload["filename"] == "ports.md" and hybrid.retrieval == "hybrid"


def _many_files(root: Path, files: int = 8, chunks: int = 40) -> Path:
    root.mkdir(parents=True)
    for f in range(files):
        paragraphs = [f"File {f} paragraph {c}: " + " ".join(f"term{f}x{c}x{w}" for w in range(18))
                      for c in range(chunks)]
        (root / f"doc{f:02d}.txt").write_text("\n\n".join(paragraphs))
    return root


def _ingest(home: Path, root: Path) -> subprocess.Popen:
    env = {**os.environ, "AISTACK_HOME": str(home), "AISTACK_INGEST__CHUNK_SIZE": "200",
           "AISTACK_INGEST__CHUNK_OVERLAP": "20"}
    env.pop("AISTACK_PROFILES", None)
    return subprocess.Popen([str(BIN / "aistack"), "ingest", str(root), "-c", "crash"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _ids(home: Path) -> set[str]:
    store = Container(Settings(home=home)).store
    try:
        return {p.id for p in store.points("crash")}
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_halfway_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    root = _many_files(tmp_path / "docs")
    killed = _ingest(tmp_path / "killed", root)
    done = 0
    for line in killed.stdout:
        done += line.startswith("added ")
        if done == 2:
            killed.send_signal(signal.SIGKILL)
            break
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    partial = _ids(tmp_path / "killed")
    assert 0 < len(partial)

    rerun = _ingest(tmp_path / "killed", root)
    assert rerun.wait() == 0, rerun.stdout.read()
    clean = _ingest(tmp_path / "clean", root)
    assert clean.wait() == 0, clean.stdout.read()
    final, expected = _ids(tmp_path / "killed"), _ids(tmp_path / "clean")
    assert final == expected
    assert len(partial) < len(expected)
