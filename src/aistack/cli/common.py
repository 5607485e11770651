"""What every command shares: settings loading with readable errors, output, the chat client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn, Protocol, TypeVar

import typer
from rich.console import Console

from aistack.client.chat import ChatClient, GatewayClient, InProcessClient
from aistack.client.http import ClientError
from aistack.container import Container
from aistack.llm.registry import MissingDependency, UnknownBackend
from aistack.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
C = TypeVar("C", bound="Closable")
console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)  # grep-able: no line breaks added
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), code=2)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def client_for(url: str | None, remote: Callable[[str, str | None], T], local: Callable[[Container], T]) -> T:
    """A client of the running gateway when a URL is given (flag or client.url), else one that
    works in this process."""
    config = settings()
    url = url or config.client.url
    try:
        if url:
            key = config.client.api_key.get_secret_value() if config.client.api_key else None
            return remote(url, key)
        return local(Container(config))
    except (ClientError, MissingDependency, UnknownBackend) as exc:
        fail(str(exc))


def chat_client(url: str | None) -> ChatClient:
    return client_for(url, GatewayClient, InProcessClient)


class Closable(Protocol):
    def close(self) -> None: ...


def using(client: C, action: Callable[[C], T]) -> T:
    """The action's result on the client, which is closed after; a ClientError ends the command."""
    try:
        return action(client)
    except ClientError as exc:
        fail(str(exc))
    finally:
        client.close()
