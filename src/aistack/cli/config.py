"""`aistack config show`: the effective settings, secrets masked."""

from __future__ import annotations

import typer
import yaml

from aistack.cli.common import console, print_json, settings
from aistack.settings.redact import masked

app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML.")) -> None:
    """Print the effective configuration (defaults, profiles, environment) with secrets masked."""
    data = masked(settings().model_dump(mode="json", by_alias=True))  # SecretStr fields are masked already
    if as_json:
        print_json(data)
    else:
        console.print(yaml.safe_dump(data, sort_keys=False), highlight=False, end="")
