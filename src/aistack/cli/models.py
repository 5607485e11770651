"""`aistack models`: what the gateway serves; `aistack models pull NAME` fetches one into Ollama."""

from __future__ import annotations

import json

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from aistack.cli.chat import URL_HELP
from aistack.cli.common import chat_client, console, fail, print_json, settings
from aistack.client.http import ClientError

app = typer.Typer(help="The models served, and Ollama pulls.", invoke_without_command=True)


@app.callback()
def models(
    context: typer.Context,
    url: str = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the models the gateway (or the configured backend) serves."""
    if context.invoked_subcommand:
        return
    from rich.table import Table

    client = chat_client(url)
    try:
        data = client.models()
    except ClientError as exc:
        fail(str(exc))
    finally:
        client.close()
    if as_json:
        print_json(data)
        return
    detailed = any("details" in model for model in data)
    table = Table("model", "owned by", *(["family", "parameters", "quantisation", "size"] if detailed else []))
    for model in data:
        extra = model.get("details") or {}
        size = f"{extra['size'] / 1e9:.2f} GB" if extra.get("size") else ""
        cells = [str(extra.get(k) or "") for k in ("family", "parameter_size", "quantization")] + [size]
        table.add_row(model["id"], str(model.get("owned_by", "")), *(cells if detailed else []))
    console.print(table)


@app.command()
def pull(
    name: str = typer.Argument(..., help="The Ollama model, e.g. llama3.2:1b."),
    host: str = typer.Option(None, "--host", help="Ollama's API. Default: llm.openai.ollama_host, else base_url without /v1."),
    as_json: bool = typer.Option(False, "--json", help="Print each progress event as a JSON line."),
) -> None:
    """Pull a model into Ollama, with a progress bar per layer."""
    from aistack.errors import AistackError
    from aistack.llm.ollama import OllamaModels, ollama_host
    from aistack.registry import MissingDependency

    try:
        models = OllamaModels(host or ollama_host(settings().llm.openai), timeout=None)
        events = models.pull(name)
        if as_json:
            for event in events:
                typer.echo(json.dumps(vars(event)))  # one JSON line per event, as Ollama streams them
            return
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      console=console) as progress:
            layers: dict[str, int] = {}
            status = progress.add_task("connecting", total=None)
            for event in events:
                if event.digest and event.total:
                    if event.digest not in layers:
                        layers[event.digest] = progress.add_task(event.digest.removeprefix("sha256:")[:12],
                                                                 total=event.total)
                    progress.update(layers[event.digest], completed=event.completed or 0)
                else:
                    progress.update(status, description=event.status)
    except (AistackError, MissingDependency) as exc:
        fail(getattr(exc, "message", str(exc)))
    console.print(f"[green]pulled[/] {name}")
