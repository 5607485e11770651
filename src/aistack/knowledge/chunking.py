"""Recursive character splitting with the seed's defaults, and each chunk's metadata."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aistack.knowledge.loaders import Document
from aistack.settings.data import IngestSettings

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

# Point IDs are UUID5s of source and content hash: the same chunk of the same file always gets
# the same ID, so re-ingesting adds nothing.
NAMESPACE = uuid.UUID("6f1c8a56-3c1e-5b7e-9a55-7a1d2c0f4e21")


@dataclass
class Chunk:
    id: str
    text: str
    page: int | None
    headings: str | None
    chunk_index: int
    content_hash: str


def splitter(config: IngestSettings) -> RecursiveCharacterTextSplitter:
    from langchain_text_splitters import RecursiveCharacterTextSplitter  # half a second of imports: when used
    if config.chunk_overlap >= config.chunk_size:
        raise ValueError(f"chunk_overlap ({config.chunk_overlap}) must be smaller than chunk_size ({config.chunk_size})")
    return RecursiveCharacterTextSplitter(
        chunk_size=config.chunk_size, chunk_overlap=config.chunk_overlap,
        separators=config.separators, length_function=len,
    )


def point_id(source: str, content_hash: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{source}\n{content_hash}"))


def chunk_document(document: Document, split: RecursiveCharacterTextSplitter) -> list[Chunk]:
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section in document.sections:
        for text in split.split_text(section.text):
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen:  # the same text twice in one file is stored once
                continue
            seen.add(digest)
            chunks.append(Chunk(point_id(document.source, digest), text, section.page, section.headings,
                                len(chunks), digest))
    return chunks
