from __future__ import annotations

from pathlib import Path

import pytest
from support.corpus import BROKEN, PDF_PAGES, mixed_folder, write_pdf

from aistack.embeddings import bm25
from aistack.errors import Forbidden, InvalidRequest
from aistack.knowledge.chunking import chunk_document, point_id, splitter
from aistack.knowledge.loaders import LoadError, discover, load_bytes, load_file
from aistack.knowledge.sources import allowed_files, text_document, upload_label
from aistack.settings.data import IngestSettings

pytestmark = pytest.mark.unit


def test_pdf_pages_keep_their_numbers(tmp_path: Path) -> None:
    doc = load_file(write_pdf(tmp_path / "a.pdf", PDF_PAGES))
    assert [s.page for s in doc.sections] == [1, 2]
    assert "7 daily" in doc.sections[0].text and "QLoRA" in doc.sections[1].text
    assert doc.filename == "a.pdf" and doc.source == str((tmp_path / "a.pdf").resolve())


def test_markdown_headings_become_metadata() -> None:
    doc = load_bytes("x/guide.md", b"# Install\n\nrun make\n\n## GPU\n\nenable IOMMU\n")
    assert [(s.headings, s.text.splitlines()[-1]) for s in doc.sections] == [
        ("Install", "run make"), ("Install > GPU", "enable IOMMU")]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_say_why(tmp_path: Path, name: str) -> None:
    mixed_folder(tmp_path)
    with pytest.raises(LoadError) as error:
        load_file(tmp_path / name)
    assert BROKEN[name] in error.value.reason


def test_unsupported_type_and_whitespace_only() -> None:
    with pytest.raises(LoadError, match="unsupported file type '.docx'"):
        load_bytes("a.docx", b"x")
    with pytest.raises(LoadError, match="empty file"):
        load_bytes("a.txt", b"  \n\t ")


def test_discover_globs_recurse_and_exclude(tmp_path: Path) -> None:
    mixed_folder(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path, ["**/*.md", "**/*.pdf"], ["guides/*.pdf"])]
    assert found == ["corrupt.pdf", "empty.md", "guides/ports.md", "locked.pdf"]


def test_chunks_follow_the_seed_defaults_and_ids_are_deterministic() -> None:
    config = IngestSettings()
    assert (config.chunk_size, config.chunk_overlap, config.separators) == (1024, 128, ["\n\n", "\n", ". ", " ", ""])
    text = ("Sentence number {n} talks about vector search. " * 1).join(str(i) for i in range(200))
    doc = load_bytes("/docs/long.txt", text.encode())
    chunks = chunk_document(doc, splitter(config))
    assert len(chunks) > 3 and all(len(c.text) <= 1024 for c in chunks)
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].id == point_id("/docs/long.txt", chunks[0].content_hash)
    assert [c.id for c in chunk_document(doc, splitter(config))] == [c.id for c in chunks]
    other = chunk_document(load_bytes("/docs/copy.txt", text.encode()), splitter(config))
    assert not {c.id for c in other} & {c.id for c in chunks}


def test_overlap_must_be_smaller_than_the_chunk() -> None:
    with pytest.raises(ValueError, match="chunk_overlap"):
        splitter(IngestSettings(chunk_size=100, chunk_overlap=100))


def test_bm25_ranks_candidates_by_rare_query_terms() -> None:
    texts = ["the port of the gateway is 8000", "qdrant grpc port 6334", "qdrant rest port 6333",
             "the the the of of of"]
    order = bm25.rank("What is Qdrant's gRPC port?", texts)
    assert order[0] == 1  # the only one with the rarest term, grpc
    assert order.index(2) < order.index(0) and order[-1] == 3  # stop words score nothing
    assert bm25.terms("The gRPC port, of Qdrant!") == ["grpc", "port", "qdrant"]


def test_server_paths_must_stay_inside_the_allowed_roots(tmp_path: Path) -> None:
    root = mixed_folder(tmp_path / "docs")
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    (root / "link.txt").symlink_to(outside)
    with pytest.raises(Forbidden, match="uploads only"):
        list(allowed_files(str(root), [], ["**/*.txt"], []))
    with pytest.raises(Forbidden, match="outside"):
        list(allowed_files(str(root / ".." / "secret.txt"), [root], ["**/*.txt"], []))
    loaded = list(allowed_files(str(root), [root], ["**/*.txt"], []))
    reasons = {Path(d.source).name: getattr(d, "reason", None) for d in loaded}
    assert reasons["link.txt"] == "a link to a file outside ingest.allowed_paths"
    assert reasons["gpu.txt"] is None


def test_text_documents_and_upload_labels() -> None:
    doc = text_document("hello world", None, {"team": "a"})
    assert doc.filename.startswith("text-") and doc.filename.endswith(".txt") and doc.metadata == {"team": "a"}
    assert text_document("# T\n\nx", "notes.md", {}).sections[0].headings == "T"
    assert text_document("x", "notes", {}).filename == "notes.txt"
    for bad in ("", "a\x00b", "x" * 2000):
        with pytest.raises(InvalidRequest):
            upload_label(bad)


def test_pdf_helpers_start_again_after_they_are_closed(tmp_path) -> None:
    """A container that closes stops the idle PDF helpers; the next PDF (another container in the
    same process) must get one again, not wait for ever on an empty pool."""
    import threading

    from support.corpus import write_pdf

    from aistack.knowledge import loaders

    pdf = write_pdf(tmp_path / "a.pdf", ["first page", "second page"]).read_bytes()
    for _ in range(3):
        found: list = []
        worker = threading.Thread(target=lambda: found.append(loaders.load_bytes("a.pdf", pdf)), daemon=True)
        worker.start()
        worker.join(60)
        assert found and [s.page for s in found[0].sections] == [1, 2]
        loaders.close_pdf_helpers()
