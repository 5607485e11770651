"""`aistack snapshot create | list | restore | prune`: collection backups in S3 (MinIO)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from aistack.cli.common import client_for, console, print_json, using
from aistack.cli.rag import JSON, URL
from aistack.client.snapshots import GatewaySnapshots, LocalSnapshots

app = typer.Typer(help="Back up collections to S3-compatible storage and restore them.", no_args_is_help=True)


def with_snapshots(url: str | None, action: Any) -> Any:
    return using(client_for(url, GatewaySnapshots, LocalSnapshots), action)


def _table(snapshots: list[dict[str, Any]]) -> None:
    table = Table("collection", "created at", "kind", "bytes", "key")
    for s in snapshots:
        table.add_row(s["collection"], s["created_at"], s["kind"], str(s["size"]), s["key"])
    console.print(table)


@app.command()
def create(
    collection: str = typer.Option(None, "--collection", "-c", help="One collection. Default: all of them."),
    url: str = URL,
    json: bool = JSON,
) -> None:
    """Snapshot one collection, or all (what the nightly job runs)."""
    made = with_snapshots(url, lambda c: c.create(collection))
    print_json(made) if json else _table(made)


@app.command("list")
def list_(collection: str = typer.Option(None, "--collection", "-c"), url: str = URL, json: bool = JSON) -> None:
    """List snapshots, oldest first."""
    found = with_snapshots(url, lambda c: c.list(collection))
    print_json(found) if json else _table(found)


@app.command()
def restore(
    key: str = typer.Argument(..., help="The snapshot's key, as `snapshot list` shows it."),
    collection: str = typer.Option(None, "--collection", "-c", help="Restore under another name."),
    url: str = URL,
) -> None:
    """Replace a collection with a snapshot's points."""
    result = with_snapshots(url, lambda c: c.restore(key, collection))
    console.print(f"restored {result['points']} points into {result['collection']}")


@app.command()
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted."),
    url: str = URL,
    json: bool = JSON,
) -> None:
    """Delete snapshots beyond snapshots.keep_daily (7) and keep_weekly (4), per collection."""
    result = with_snapshots(url, lambda c: c.prune(dry_run))
    if json:
        print_json(result)
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"kept {len(result['kept'])}, {verb} {len(result['deleted'])}")
    for key in result["deleted"]:
        console.print(f"  {verb} {key}", highlight=False)
