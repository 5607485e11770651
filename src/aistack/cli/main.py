"""The `aistack` command. Each command group lives in its own module; this file wires them."""

from __future__ import annotations

import typer

from aistack.cli import (
    access,
    agent,
    chat,
    config,
    cost,
    deploy,
    eval,
    finetune,
    infra,
    mcp,
    models,
    observability,
    rag,
    snapshot,
    stack,
    tracking,
)
from aistack import plugins
from aistack.cli import plugins as plugins_cli
from aistack.cli.common import fail, settings

app = typer.Typer(help="aistack: private AI on your own hardware.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(config.app, name="config")
app.add_typer(access.teams_app, name="teams")
app.add_typer(access.users_app, name="users")
app.add_typer(access.keys_app, name="keys")
app.command()(access.usage)
app.command()(chat.chat)
app.add_typer(models.app, name="models")
app.command()(rag.ingest)
app.command()(rag.ask)
app.command()(rag.documents)
app.add_typer(rag.collections_app, name="collections")
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(observability.app, name="observability")
app.add_typer(eval.app, name="eval")
app.add_typer(tracking.app, name="tracking")
app.add_typer(deploy.app, name="deploy")
app.command()(deploy.rollback)
app.add_typer(agent.app, name="agent")
app.command("cost")(cost.cost)
app.add_typer(infra.app, name="infra")
app.add_typer(stack.app, name="stack")
app.add_typer(mcp.app, name="mcp")
app.command()(finetune.finetune)
app.command("plugins")(plugins_cli.list_plugins)
for _name, _commands in plugins.commands().items():  # what installed plugins add (aistack/plugins.py)
    app.add_typer(_commands, name=_name)


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address. Default: server.host."),
    port: int = typer.Option(None, help="Port. Default: server.port."),
) -> None:
    """Run the OpenAI-compatible gateway."""
    import uvicorn

    from aistack.container import Container
    from aistack.errors import AistackError
    from aistack.gateway.app import create_app
    from aistack.llm.registry import MissingDependency, UnknownBackend
    from aistack.logs import configure_logging

    config = settings()
    configure_logging(config.server.log_level, config.server.log_format)
    try:
        container = Container(config)
        container.access.can_start()  # fail closed: server.auth keys with no key anywhere
        preflight = getattr(container.llm, "preflight", None)  # backends with local files
        if preflight is not None:
            preflight()
        application = create_app(container)
    except (MissingDependency, UnknownBackend) as exc:
        fail(str(exc))
    except AistackError as exc:
        fail(f"{exc.message} ({exc.detail})" if exc.detail else exc.message)
    uvicorn.run(
        application,
        host=host or config.server.host,
        port=port or config.server.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=config.server.keep_alive,
        loop="asyncio" if config.server.slow_callback_ms else "auto",  # uvloop has no slow-callback log
        ssl_certfile=str(config.server.tls_cert) if config.server.tls_cert else None,
        ssl_keyfile=str(config.server.tls_key) if config.server.tls_key else None,
    )


def main() -> None:
    app()
