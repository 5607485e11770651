"""Where API ingests come from: uploads, raw text, and server-side paths inside allowed roots."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from aistack.errors import Forbidden, InvalidRequest
from aistack.knowledge.loaders import (
    MARKDOWN,
    TEXT,
    Document,
    LoadError,
    discover,
    load_bytes,
    load_file,
)


def upload_label(name: str | None) -> str:
    """An upload's name is only a label (never a path we write to), but keep it printable."""
    label = (name or "").strip()
    if not label or len(label) > 1024 or any(ord(ch) < 32 for ch in label):
        raise InvalidRequest("every uploaded file needs a printable filename of at most 1024 characters",
                             param="files")
    return label


def load_upload(name: str | None, data: bytes, metadata: dict[str, Any]) -> Document | LoadError:
    label = upload_label(name)
    try:
        return load_bytes(label, data, metadata)
    except LoadError as error:
        return error


def text_document(text: str, title: str | None, metadata: dict[str, Any]) -> Document:
    """Raw text as a document; its title (default: a hash) is its source, so posting the same
    title again replaces it."""
    if not text.strip():
        raise InvalidRequest("text is empty", param="text")
    name = upload_label(title or f"text-{hashlib.sha256(text.encode()).hexdigest()[:16]}.txt")
    if PurePosixPath(name).suffix.lower() not in MARKDOWN | TEXT:
        name += ".txt"
    return load_bytes(name, text.encode(), metadata)


def allowed_files(path: str, roots: list[Path], include: list[str], exclude: list[str]
                  ) -> Iterator[Document | LoadError]:
    """Files under `path`, which must resolve (symlinks followed) inside one of `roots`."""
    if not roots:
        raise Forbidden("this gateway ingests uploads only: set ingest.allowed_paths to allow server paths")
    resolved_roots = [root.resolve() for root in roots]
    target = Path(path).resolve()
    if not any(target.is_relative_to(root) for root in resolved_roots):
        raise Forbidden(f"path '{path}' is outside ingest.allowed_paths")
    if not target.exists():
        raise InvalidRequest(f"path '{path}' does not exist", param="path")
    return _load_inside(target, resolved_roots, include, exclude)


def _load_inside(target: Path, roots: list[Path], include: list[str], exclude: list[str]
                 ) -> Iterator[Document | LoadError]:
    for file in discover(target, include, exclude):
        real = file.resolve()
        if not any(real.is_relative_to(root) for root in roots):
            yield LoadError(str(file), "a link to a file outside ingest.allowed_paths")
            continue
        try:
            yield load_file(file)
        except LoadError as error:
            yield error
