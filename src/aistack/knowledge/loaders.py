"""Loaders for PDF (text per page), Markdown (headings kept) and text, from paths or bytes.

A file that cannot be read raises LoadError with a reason a person understands; the pipeline
reports it and goes on."""

from __future__ import annotations

import fnmatch
import hashlib
import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from aistack.helpers import HelperProcess

MARKDOWN = {".md", ".markdown"}
TEXT = {".txt", ".text"}
PDF = {".pdf"}
SUPPORTED = MARKDOWN | TEXT | PDF
HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]


class LoadError(Exception):
    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass
class Section:
    """A part of a document that keeps its own metadata: a PDF page, a Markdown section."""

    text: str
    page: int | None = None
    headings: str | None = None


@dataclass
class Document:
    source: str
    filename: str
    sections: list[Section]
    file_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)


def load_bytes(source: str, data: bytes, metadata: dict[str, Any] | None = None,
               encoding: str = "utf-8") -> Document:
    """A document from its bytes; `source` names it (a path, or a label for uploads)."""
    filename = PurePosixPath(source.replace("\\", "/")).name or source
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(source, f"unsupported file type '{suffix or filename}' (supported: {', '.join(sorted(SUPPORTED))})")
    if not data.strip():
        raise LoadError(source, "empty file")
    if suffix in PDF:
        sections = _pdf(source, data)
    else:
        text = _decode(source, data, encoding)
        sections = _markdown(text) if suffix in MARKDOWN else [Section(text)]
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise LoadError(source, "no text in the file")
    return Document(source, filename, sections, hashlib.sha256(data).hexdigest(), dict(metadata or {}))


def load_file(path: Path, encoding: str = "utf-8") -> Document:
    source = str(path.resolve())
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(source, f"cannot read the file: {exc.strerror}") from None
    return load_bytes(source, data, encoding=encoding)


def _decode(source: str, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise LoadError(source, f"not {encoding} text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


PDF_TIMEOUT = 600.0  # seconds one PDF may take to parse (a 20,000-page one takes about one minute)
_pdf_helpers: queue.SimpleQueue[HelperProcess] = queue.SimpleQueue()
_pdf_lock = threading.Lock()
_pdf_made = 0
PDF_HELPERS = 2  # PDFs parsed at once; more wait for a helper
FAILED = {"crashed": "the PDF parser crashed on it", "killed": "the PDF parser was stopped; try again",
          "timeout": f"parsing it took longer than {PDF_TIMEOUT:.0f} s"}


def _pdf_helper() -> HelperProcess:
    """A free PDF helper process (each parses one PDF at a time), made on first need."""
    global _pdf_made
    with _pdf_lock:
        if _pdf_helpers.empty() and _pdf_made < PDF_HELPERS:
            _pdf_made += 1
            return HelperProcess("aistack.knowledge.pdf_helper", PDF_TIMEOUT)
    return _pdf_helpers.get()


def _pdf(source: str, data: bytes) -> list[Section]:
    """The text of each page, parsed in a helper process (knowledge/pdf_helper.py)."""
    helper = _pdf_helper()
    try:
        with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
            handle.write(data)
            handle.flush()
            result = helper.call({"path": handle.name})
    finally:
        _pdf_helpers.put(helper)
    if "error" in result:
        raise LoadError(source, FAILED.get(result.get("failed"), result["error"]))
    sections = [Section(text, page=n) for n, text in enumerate(result["pages"], start=1)]
    if not any(s.text.strip() for s in sections):
        raise LoadError(source, "the PDF has no extractable text (scanned pages need OCR first)")
    return sections


def close_pdf_helpers() -> None:
    """Stop the idle helpers' processes; the helpers stay in the pool and start again on next use."""
    idle = []
    while True:
        try:
            idle.append(_pdf_helpers.get_nowait())
        except queue.Empty:
            break
    for helper in idle:
        helper.close()
        _pdf_helpers.put(helper)


def _markdown(text: str) -> list[Section]:
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    splitter = MarkdownHeaderTextSplitter(HEADERS, strip_headers=False)
    sections = []
    for part in splitter.split_text(text):
        names = [part.metadata[key] for _, key in HEADERS if key in part.metadata]
        sections.append(Section(part.page_content, headings=" > ".join(names) or None))
    return sections


def discover(root: Path, include: list[str], exclude: list[str]) -> Iterator[Path]:
    """Files under root (or root itself) matching an include glob and no exclude glob, sorted."""
    if root.is_file():
        yield root
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if _matches(relative, include) and not _matches(relative, exclude):
            yield path


def _matches(relative: str, globs: list[str]) -> bool:
    # "**/*.md" also matches top-level files, as users expect.
    return any(fnmatch.fnmatch(relative, g) or (g.startswith("**/") and fnmatch.fnmatch(relative, g[3:]))
               for g in globs)
