"""`aistack plugins`: the installed plugins, what they add, and those that failed to load."""

from __future__ import annotations

import typer
from rich.table import Table

from aistack import plugins
from aistack.cli.common import console, print_json


def list_plugins(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The plugins of the `aistack.plugins` entry-point group, and the backends and commands they add."""
    found = {"loaded": plugins.loaded(), "failed": plugins.failed(),
             "backends": {seam: sorted(plugins.backends(seam)) for seam in plugins.SEAMS},
             "commands": sorted(plugins.commands())}
    if json_out:
        print_json(found)
        return
    table = Table("plugin", "module", "status")
    for name, module in sorted(found["loaded"].items()):
        table.add_row(name, module, "loaded")
    for name, why in sorted(found["failed"].items()):
        table.add_row(name, "", f"[red]not loaded[/]: {why}")
    console.print(table)
    for seam, names in found["backends"].items():
        if names:
            console.print(f"{seam} backends: {', '.join(names)}")
    if found["commands"]:
        console.print(f"commands: {', '.join(found['commands'])}")
