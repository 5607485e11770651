"""`aistack infra ...`: Proxmox GPU host checks (and, next, VM plans through the Proxmox API)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from aistack.cli.common import console, print_json

app = typer.Typer(help="Proxmox GPU hosts: readiness checks for passthrough.", no_args_is_help=True)


@app.command()
def check(root: Path = typer.Option(Path("/"), help="Read the host under this folder (a recorded host tree)."),
          json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Is this host ready for GPU passthrough? Each failure says exactly what to change."""
    from aistack.infra.hostcheck import check_host

    report = check_host(root)
    if json:
        print_json(report.as_dict())
    else:
        table = Table("check", "", "found", "fix", show_lines=True)
        for c in report.checks:
            table.add_row(c.name, "[green]pass[/]" if c.ok else "[red]FAIL[/]", escape(c.detail), escape(c.fix))
        console.print(table)
        console.print("ready for GPU passthrough" if report.ok else "[red]not ready[/]: apply the fixes above")
    if not report.ok:
        raise typer.Exit(1)
