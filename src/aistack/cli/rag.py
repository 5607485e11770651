"""`aistack ingest`, `ask`, `collections` and `documents`: through a running gateway when one is
configured (--url or client.url), in this process otherwise."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from aistack.cli.common import client_for, console, fail, print_json, settings, using
from aistack.client.http import ClientError
from aistack.client.knowledge import (
    GatewayKnowledge,
    KnowledgeClient,
    LocalKnowledge,
    files_to_ingest,
)
from aistack.knowledge.ingest import FileResult, IngestSummary
from aistack.wire.knowledge import RetrievalOptions

URL = typer.Option(None, "--url", help="A running gateway. Default: client.url, else in process.")
COLLECTION = typer.Option(None, "--collection", "-c", help="Collection. Default: rag.default_collection.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")

collections_app = typer.Typer(help="List, create and delete collections.", invoke_without_command=True)


def rag_client(url: str | None) -> KnowledgeClient:
    return client_for(url, GatewayKnowledge, LocalKnowledge)


def _collection(name: str | None) -> str:
    return name or settings().rag.default_collection


def ingest(
    path: Path = typer.Argument(..., help="A file or a folder (searched recursively)."),
    collection: str = COLLECTION,
    include: list[str] = typer.Option(None, "--include", help="Glob to take (repeatable). Default: ingest.include."),
    exclude: list[str] = typer.Option(None, "--exclude", help="Glob to skip (repeatable)."),
    url: str = URL,
    json: bool = JSON,
) -> None:
    """Load, chunk, embed and store documents. Unreadable files are reported, never fatal."""
    config = settings()
    name = _collection(collection)
    try:
        files = files_to_ingest(path, include or config.ingest.include,
                                exclude if exclude else config.ingest.exclude)
    except ClientError as exc:
        fail(str(exc))
    client = rag_client(url)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # On a terminal: a progress bar. In a pipe or a log: one line per file, as it finishes.
    lines = not json and not console.is_terminal

    def advance(result: dict[str, Any]) -> None:
        bar.advance(task)
        if lines:
            detail = result["reason"] if result["status"] == "failed" else f"{result['chunks']} chunks"
            console.print(f"{result['status']} {result['source']} ({detail})", highlight=False, markup=False)

    started = time.perf_counter()
    try:
        with Progress(*columns, console=console, disable=json or lines) as bar:
            task = bar.add_task(f"ingesting into {name}", total=len(files))
            results = client.ingest(name, files, advance)
    except ClientError as exc:
        fail(str(exc))
    finally:
        client.close()
    summary = summarise(name, results, time.perf_counter() - started)
    if json:
        print_json(summary)
    else:
        _print_summary(summary)
    if results and summary["failed"] == len(results):
        raise typer.Exit(1)


def summarise(collection: str, results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The ingest summary the API gives, for the per-file results the client collected."""
    return IngestSummary(collection, [FileResult(**r) for r in results], seconds).as_dict()


def _print_summary(summary: dict[str, Any]) -> None:
    failed = [r for r in summary["results"] if r["status"] == "failed"]
    if failed:
        table = Table("file", "reason", title="not ingested", title_style="bold red")
        for r in failed:
            table.add_row(r["source"], r["reason"])
        console.print(table)
    table = Table("files", "added", "updated", "unchanged", "failed", "chunks added", "chunks removed",
                  title=f"collection {summary['collection']}")
    table.add_row(*(str(summary[k]) for k in ("files", "added", "updated", "unchanged", "failed",
                                              "chunks_added", "chunks_removed")))
    console.print(table)


def ask(
    question: str = typer.Argument(..., help="The question."),
    collection: str = COLLECTION,
    top_k: int = typer.Option(None, "--top-k", min=1, max=100, help="Chunks to retrieve."),
    threshold: float = typer.Option(None, "--threshold", min=-1, max=1, help="Lowest cosine score kept."),
    retrieval: str = typer.Option(None, "--retrieval", help="dense or hybrid."),
    model: str = typer.Option(None, "--model", "-m", help="Model that answers. Default: rag.model."),
    url: str = URL,
    json: bool = JSON,
) -> None:
    """Answer from your documents, citing them; the sources are listed after the answer."""
    try:
        options = RetrievalOptions(collection=_collection(collection), top_k=top_k, score_threshold=threshold,
                                   retrieval=retrieval)
    except ValueError as exc:
        fail(str(exc).splitlines()[-1] if "\n" in str(exc) else str(exc))
    client = rag_client(url)
    parts: list[str] = []
    sources: list[dict[str, Any]] = []
    try:
        for chunk in client.ask(question, options, model):
            sources = chunk.get("sources", sources)
            for choice in chunk.get("choices", ()):
                text = choice["delta"].get("content")
                if text:
                    parts.append(text)
                    if not json:
                        console.print(text, end="", highlight=False, markup=False)
    except ClientError as exc:
        fail(str(exc))
    finally:
        client.close()
    if json:
        print_json({"answer": "".join(parts), "sources": sources})
        return
    console.print()
    if sources:
        table = Table("#", "file", "page", "score", "chunk id", title="sources")
        for n, s in enumerate(sources, start=1):
            table.add_row(str(n), s["filename"] or "", "" if s["page"] is None else str(s["page"]),
                          f"{s['score']:.3f}", s["chunk_id"])
        console.print(table)


@collections_app.callback()
def collections(ctx: typer.Context, url: str = URL, json: bool = JSON) -> None:
    """List collections (with a subcommand: create or delete one)."""
    if ctx.invoked_subcommand is not None:
        return
    found = with_client(url, lambda c: c.collections())
    if json:
        print_json(found)
        return
    table = Table("name", "chunks", "dimension", "embedder", "threshold")
    for c in found:
        meta = c["metadata"]
        table.add_row(c["name"], str(c["points"]), str(c["dimension"]), str(meta.get("embedder", "")),
                      str(meta.get("score_threshold", "default")))
    console.print(table)


@collections_app.command("create")
def create_collection(
    name: str,
    threshold: float = typer.Option(None, "--threshold", min=-1, max=1, help="This collection's score threshold."),
    top_k: int = typer.Option(None, "--top-k", min=1, max=100),
    retrieval: str = typer.Option(None, "--retrieval", help="dense or hybrid."),
    url: str = URL,
) -> None:
    """Create a collection with its own retrieval settings."""
    with_client(url, lambda c: c.create_collection(name, score_threshold=threshold, top_k=top_k, retrieval=retrieval))
    console.print(f"created collection {name}")


@collections_app.command("delete")
def delete_collection(name: str, url: str = URL) -> None:
    """Delete a collection and all its chunks."""
    with_client(url, lambda c: c.delete_collection(name))
    console.print(f"deleted collection {name}")


@collections_app.command("migrate")
def migrate_collections(
    to: str = typer.Option(..., "--to", help="The store to copy into: its section of vectorstore (pgvector, chroma, "
                           "qdrant) says where."),
    names: list[str] = typer.Argument(None, help="Collections as stored (a team's: <team>__<name>). Default: all."),
) -> None:
    """Copy collections from vectorstore.backend into another store, then switch vectorstore.backend
    to it. Runs on the stores directly: stop a gateway that holds an embedded store first. Existing
    collections in the target are left alone."""
    from aistack.errors import AistackError, Conflict
    from aistack.registry import MissingDependency, UnknownBackend
    from aistack.vectorstore import create_store
    from aistack.vectorstore.copy import copy_collection

    config = settings()
    if to == config.vectorstore.backend:
        fail(f"--to {to} is the store in use (vectorstore.backend); name another")
    with ExitStack() as opened:
        try:
            source = create_store(config)
            opened.callback(source.close)
            target = create_store(config, to)
            opened.callback(target.close)
            for name in names or [c.name for c in source.list_collections()]:
                try:
                    console.print(f"{name}: {copy_collection(source, target, name)} points copied to {to}")
                except Conflict:
                    console.print(f"{name}: already in {to}, left as it is")
        except (MissingDependency, UnknownBackend) as exc:
            fail(str(exc))
        except AistackError as exc:
            fail(exc.message)
    console.print(f"now set vectorstore.backend: {to}")


def with_client(url: str | None, action: Any) -> Any:
    return using(rag_client(url), action)


def documents(
    collection: str = COLLECTION,
    delete: str = typer.Option(None, "--delete", help="Delete the document with this source."),
    url: str = URL,
    json: bool = JSON,
) -> None:
    """List the documents of a collection, or delete one."""
    name = _collection(collection)
    if delete:
        removed = with_client(url, lambda c: c.delete_document(name, delete))  # none: the service's 400
        console.print(f"deleted {delete} ({removed} chunks)")
        return
    docs = with_client(url, lambda c: c.documents(name))
    if json:
        print_json(docs)
        return
    table = Table("file", "chunks", "ingested at", "source", title=f"collection {name}")
    for d in docs:
        table.add_row(d["filename"], str(d["chunks"]), d["ingested_at"], d["source"])
    console.print(table)
