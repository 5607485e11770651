"""`aistack chat`."""

from __future__ import annotations

from typing import Any

import typer

from aistack.cli.common import chat_client, console, fail, settings
from aistack.client.chat import ChatClient
from aistack.client.http import ClientError
from aistack.container import Container

URL_HELP = "A running gateway, e.g. http://127.0.0.1:8000. Default: client.url, else in process."


def _default_model(client: ChatClient) -> str:
    model = Container(settings()).default_model()
    if model:
        return model
    models = client.models()
    if not models:
        fail("the backend lists no models; pass --model")
    return models[0]["id"]


def _answer(client: ChatClient, body: dict[str, Any]) -> str:
    parts = []
    for piece in client.stream_chat(body):
        parts.append(piece)
        console.print(piece, end="", highlight=False, markup=False)
    console.print()
    return "".join(parts)


def chat(
    prompt: str = typer.Argument(None, help="One prompt to answer. Without it: an interactive chat."),
    model: str = typer.Option(None, "--model", "-m", help="Model name. Default: the first configured."),
    system: str = typer.Option(None, "--system", "-s", help="A system prompt."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Most tokens per answer."),
    temperature: float = typer.Option(None, "--temperature", "-t", min=0, max=2),
    url: str = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Chat with a model, streaming the answer. /reset clears the history, /exit or Ctrl-D quits."""
    client = chat_client(url)
    try:
        model = model or _default_model(client)
        history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        params: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
        if temperature is not None:
            params["temperature"] = temperature
        if prompt is not None:
            _answer(client, {**params, "messages": [*history, {"role": "user", "content": prompt}]})
            return
        console.print(f"[dim]chatting with {model}; /reset clears history, /exit quits[/]")
        while True:
            try:
                line = console.input("[bold cyan]you>[/] ").strip()
            except (EOFError, KeyboardInterrupt):
                console.print()
                return
            if line in ("/exit", "/quit"):
                return
            if line == "/reset":
                history = history[:1] if system else []
                continue
            if not line:
                continue
            history.append({"role": "user", "content": line})
            try:
                reply = _answer(client, {**params, "messages": history})
            except KeyboardInterrupt:
                console.print("\n[dim](stopped)[/]")
                history.pop()
                continue
            history.append({"role": "assistant", "content": reply})
    except ClientError as exc:
        fail(str(exc))
    finally:
        client.close()
