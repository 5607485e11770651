"""`aistack mcp serve`: aistack's MCP tools over stdio, for an MCP client that starts it.

It runs in process, as the key in `--key` (or AISTACK_CLIENT__API_KEY) when given: that key's
team, scopes and models, as over the gateway's /mcp. Without a key it is the machine's operator,
as every in-process command is. It opens the same data home as `aistack serve`, so while a
gateway runs on this home, point the client at the gateway's /mcp instead."""

from __future__ import annotations

import typer

from aistack.cli.common import fail, settings

app = typer.Typer(help="aistack as an MCP server.", no_args_is_help=True)


@app.command()
def serve(key: str = typer.Option(None, "--key", help="Act as this API key. Default: client.api_key, else the "
                                  "operator.", show_default=False)) -> None:
    """Serve the MCP tools over stdio (list, search and ask collections; agent runs; PromQL)."""
    import anyio

    from aistack.container import Container
    from aistack.errors import AistackError
    from aistack.logs import configure_logging
    from aistack.principals import OPERATOR

    config = settings()
    configure_logging("warning", "json")  # stdout is the protocol's: logs go to stderr
    secret = key or (config.client.api_key.get_secret_value() if config.client.api_key else None)
    try:
        from aistack.mcp.server import build_server, services_of
    except ImportError:
        fail("MCP is not installed: pip install 'aistack[mcp]'")
    container = Container(config)
    try:
        caller = container.access.authenticate(secret) if secret else OPERATOR
    except AistackError as exc:
        fail(exc.message)

    async def main() -> None:
        await container.start()
        try:
            await build_server(services_of(container), caller).run_stdio_async()
        finally:
            await container.close()

    anyio.run(main)
