"""`aistack tracking ui`: the MLflow UI on the local store."""

from __future__ import annotations

import os
import shutil
import sys

import typer

from aistack.cli.common import console, fail, settings

app = typer.Typer(help="Experiment tracking (MLflow).", no_args_is_help=True)


@app.command()
def ui(host: str = typer.Option(None, help="Default: tracking.ui_host."),
       port: int = typer.Option(None, help="Default: tracking.ui_port."),
       workers: int = typer.Option(1, min=1, help="Server processes (MLflow's own default is 4; one serves a "
                                                   "person at a browser, and starts in about half the time).")) -> None:
    """Serve the MLflow UI over the local store (runs, metrics, the question tables, the registry)."""
    from aistack.tracking.mlflow import local_store, tracking_uri

    config = settings()
    if config.tracking.uri and config.tracking.uri.startswith("http"):
        console.print(f"runs are on a tracking server: open {config.tracking.uri}", highlight=False)
        return
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or shutil.which("mlflow")
    if mlflow is None:
        fail("the MLflow UI needs MLflow: pip install 'aistack[tracking]'")
    store = local_store(config)
    store.mkdir(parents=True, exist_ok=True)
    args = [mlflow, "ui", "--backend-store-uri", tracking_uri(config),
            "--default-artifact-root", (store / "artifacts").as_uri(),
            "--host", host or config.tracking.ui_host, "--port", str(port or config.tracking.ui_port),
            "--workers", str(workers)]
    # MLflow 3 servers otherwise start a job runner: 10 processes and 2.3 GB on a 2-core host
    os.execve(mlflow, args, {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
