"""`aistack eval run | compare | sweep | register`: RAG evaluations logged to MLflow."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from aistack.cli.common import console, errors, fail, print_json, settings
from aistack.container import Container
from aistack.portal import Portal
from aistack.errors import AistackError
from aistack.registry import MissingDependency
from aistack.settings import Settings

app = typer.Typer(help="Evaluate RAG pipelines and track the runs in MLflow.", no_args_is_help=True)
T = TypeVar("T")

DATASET = typer.Argument(..., help="JSONL: question, relevant_sources, reference_answer?, keywords?")
COLLECTION = typer.Option(None, "--collection", "-c", help="Collection to query. Default: one per chunking.")
CORPUS = typer.Option(None, help="Folder ingested into the collection first (with this run's chunking).")
MODEL = typer.Option(None, help="Model that answers. Default: llm.default_model.")
ANSWERS = typer.Option(True, "--answers/--no-answers", help="Generate answers (off: retrieval only).")
JUDGE = typer.Option(None, help="llm: also judge faithfulness with an LLM. Default: eval.judge.")
JUDGE_MODEL = typer.Option(None, help="Model that judges. Default: eval.judge_model, else the answering model.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def guarded(action: Callable[[], T]) -> T:
    try:
        return action()
    except (AistackError, MissingDependency) as exc:
        fail(exc.message if isinstance(exc, AistackError) else str(exc))


def load(dataset: Path) -> Any:
    from aistack.evaluation.dataset import load_dataset

    found = guarded(lambda: load_dataset(dataset))
    for problem in found.problems:
        errors.print(f"[yellow]skipped[/] {dataset}: {problem}", highlight=False)
    return found


@contextmanager
def session(config: Settings, answers: bool) -> Iterator[tuple[Container, Portal]]:
    """One container (and one loaded model) for every configuration of the command."""
    container = Container(config)
    portal = Portal()
    try:
        if answers:
            guarded(lambda: portal.call(container.llm.start()))
        yield container, portal
    finally:
        portal.call(container.close())
        portal.close()


def evaluate(container: Container, portal: Portal, dataset: Any, config: Any, progress: Progress) -> Any:
    from aistack.evaluation.runner import Evaluator

    task = progress.add_task(f"{config.collection} top_k={config.top_k}", total=len(dataset.questions))
    evaluator = guarded(lambda: Evaluator(container.settings, container.knowledge, container.llm, config))
    return guarded(lambda: portal.call(evaluator.run(dataset, lambda _: progress.advance(task))))


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=errors)


def print_metrics(metrics: dict[str, float], title: str) -> None:
    table = Table("metric", "value", title=title)
    for name, value in metrics.items():
        table.add_row(name, f"{value:g}")
    console.print(table)


def config_for(config: Settings, collection: str | None, corpus: Path | None, model: str | None,
               **overrides: Any) -> Any:
    from aistack.evaluation.runner import pipeline_config

    model = model or Container(config).default_model()
    if not model:
        fail("no model: pass --model or set llm.default_model")
    return guarded(lambda: pipeline_config(config, model, collection, corpus, **overrides))


@app.command()
def run(
    dataset: Path = DATASET, collection: str = COLLECTION, corpus: Path = CORPUS, model: str = MODEL,
    top_k: int = typer.Option(None, min=1), retrieval: str = typer.Option(None, help="dense or hybrid"),
    rerank: str = typer.Option(None, help="none or late_interaction"),
    chunk_size: int = typer.Option(None, min=64, help="With --corpus: chunking of the ingested collection."),
    chunk_overlap: int = typer.Option(None, min=0), temperature: float = typer.Option(None, min=0),
    max_tokens: int = typer.Option(None, min=1), answers: bool = ANSWERS, judge: str = JUDGE,
    judge_model: str = JUDGE_MODEL,
    alias: str = typer.Option(None, "--alias", help="Point this alias (champion, challenger) at the new version."),
    json: bool = JSON,
) -> None:
    """Evaluate one pipeline configuration and log it to MLflow as a run and a model version."""
    from aistack.tracking.mlflow import Tracking

    found = load(dataset)
    loaded = settings()
    config = config_for(loaded, collection, corpus, model, top_k=top_k, retrieval=retrieval, rerank=rerank,
                        chunk_size=chunk_size, chunk_overlap=chunk_overlap, temperature=temperature,
                        max_tokens=max_tokens, answers=answers, judge=judge, judge_model=judge_model)
    tracking = guarded(lambda: Tracking(loaded))
    with session(loaded, config.answers) as (container, portal), progress_bar() as progress:
        report = evaluate(container, portal, found, config, progress)
    run_id = guarded(lambda: tracking.log(report, dataset=str(dataset)))
    version = guarded(lambda: tracking.register(run_id, alias)) if alias else None
    if json:
        print_json({"run_id": run_id, "metrics": report.metrics, "config": config.model_dump(),
                    "alias": alias, "version": version, "skipped": found.problems})
        return
    print_metrics(report.metrics, f"run {run_id}")
    console.print(f"logged to {tracking.uri} (experiment {loaded.tracking.experiment}), run {run_id}"
                  + (f"; {loaded.tracking.registered_model}@{alias} -> version {version}" if alias else ""),
                  highlight=False)


@app.command()
def compare(run_a: str, run_b: str, json: bool = JSON) -> None:
    """Metric by metric: B minus A over the questions both answered, with a bootstrap 95% interval."""
    from aistack.evaluation.compare import compare as differences
    from aistack.tracking.mlflow import Tracking

    config = settings()
    tracking = guarded(lambda: Tracking(config))
    rows_a, rows_b = guarded(lambda: tracking.questions(run_a)), guarded(lambda: tracking.questions(run_b))
    found = differences(rows_a, rows_b, config.eval.bootstrap_samples)
    if json:
        print_json([{**vars(d), "delta": d.delta} for d in found])
        return
    table = Table("metric", "questions", "A", "B", "B - A", "95% interval", "verdict", title=f"A={run_a}  B={run_b}")
    for d in found:
        table.add_row(d.metric, str(d.questions), f"{d.a:.3f}", f"{d.b:.3f}", f"{d.delta:+.3f}",
                      f"[{d.low:+.3f}, {d.high:+.3f}]", d.verdict)
    console.print(table)


def _values(text: str | None, cast: Callable[[str], T]) -> list[T | None]:
    return [cast(v.strip()) for v in text.split(",")] if text else [None]


@app.command()
def sweep(
    dataset: Path = DATASET, corpus: Path = typer.Option(..., help="Folder ingested once per chunking."),
    chunk_size: str = typer.Option(None, help="Comma-separated, e.g. 512,1024."),
    chunk_overlap: str = typer.Option(None, help="Comma-separated."),
    top_k: str = typer.Option(None, help="Comma-separated, e.g. 3,5."),
    retrieval: str = typer.Option(None, help="Comma-separated: dense,hybrid."),
    model: str = MODEL, answers: bool = ANSWERS, judge: str = JUDGE, judge_model: str = JUDGE_MODEL,
    json: bool = JSON,
) -> None:
    """A grid of configurations: one parent run, a nested run per configuration."""
    from aistack.tracking.mlflow import Tracking

    found = load(dataset)
    grid = list(itertools.product(_values(chunk_size, int), _values(chunk_overlap, int), _values(top_k, int),
                                  _values(retrieval, str)))
    loaded = settings()
    configs = [config_for(loaded, None, corpus, model, chunk_size=c, chunk_overlap=o, top_k=k, retrieval=r,
                          answers=answers, judge=judge, judge_model=judge_model) for c, o, k, r in grid]
    tracking = guarded(lambda: Tracking(loaded))
    results = []
    with session(loaded, answers) as (container, portal), progress_bar() as progress:
        overall = progress.add_task("sweep", total=len(configs))
        with tracking.parent_run(f"sweep {dataset.stem}") as parent:
            tracking.mlflow.log_params({"grid_size": len(configs), "dataset": str(dataset)})
            for config in configs:
                report = evaluate(container, portal, found, config, progress)
                name = f"chunk {config.chunk_size}/{config.chunk_overlap} top_k {config.top_k} {config.retrieval}"
                run_id = guarded(lambda: tracking.log(report, run_name=name, nested=True, dataset=str(dataset)))
                results.append({"run_id": run_id, "config": config.model_dump(), "metrics": report.metrics})
                progress.advance(overall)
    if json:
        print_json({"parent_run_id": parent.info.run_id, "runs": results})
        return
    keys = [k for k in results[0]["metrics"] if k.startswith(("recall", "ndcg", "faithfulness", "total_p95"))]
    table = Table("run", "chunk", "top_k", "retrieval", *keys, title=f"sweep {parent.info.run_id}")
    for r in results:
        c = r["config"]
        table.add_row(r["run_id"][:8], f"{c['chunk_size']}/{c['chunk_overlap']}", str(c["top_k"]), c["retrieval"],
                      *[f"{r['metrics'].get(k, float('nan')):g}" for k in keys])
    console.print(table)


@app.command()
def register(run_id: str, alias: str = typer.Option(..., "--alias", help="champion, challenger, ...")) -> None:
    """Point an alias of the registered pipeline at the version a run logged."""
    from aistack.tracking.mlflow import Tracking

    config = settings()
    version = guarded(lambda: Tracking(config).register(run_id, alias))
    console.print(f"{config.tracking.registered_model}@{alias} -> version {version} (run {run_id})", highlight=False)
