"""What every command shares: settings loading with readable errors, output, the chat client."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from rich.console import Console

from aistack.client import ChatClient, ClientError, GatewayClient, InProcessClient
from aistack.container import Container
from aistack.llm.registry import MissingDependency, UnknownBackend
from aistack.settings import Settings, SettingsError, load_settings

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), code=2)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def chat_client(url: str | None) -> ChatClient:
    """The running gateway when a URL is given (flag or client.url), else the backend in process."""
    config = settings()
    url = url or config.client.url
    try:
        if url:
            key = config.client.api_key.get_secret_value() if config.client.api_key else None
            return GatewayClient(url, key)
        return InProcessClient(Container(config))
    except (ClientError, MissingDependency, UnknownBackend) as exc:
        fail(str(exc))
