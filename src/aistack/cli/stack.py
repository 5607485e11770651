"""`aistack stack render`: the production compose bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from aistack.cli.common import console, fail, settings

app = typer.Typer(help="The production Docker Compose bundle.", no_args_is_help=True)


@app.command()
def render(out: Path = typer.Option(..., "--out", "-o", help="Folder to write into (created).")) -> None:
    """Write compose files for vLLM, Qdrant/Chroma, MLflow (PostgreSQL, MinIO), monitoring, nginx and
    the gateway, each checked against the Compose specification; secrets stay files you write."""
    from aistack.infra.compose import ComposeInvalid, render_stack

    try:
        written = render_stack(settings(), out)
    except ComposeInvalid as exc:
        fail(f"a rendered compose file is invalid: {exc}")
    for path in written:
        console.print(str(path), highlight=False, soft_wrap=True)  # one path a line, never cut
    console.print(f"next: write the files listed in {out / 'secrets' / 'README.md'}, then\n"
                  f"  cd {out} && docker compose -f docker-compose.vllm.yml -f docker-compose.vectordb.yml "
                  "-f docker-compose.mlflow.yml -f docker-compose.monitoring.yml -f docker-compose.gateway.yml up -d",
                  highlight=False)
