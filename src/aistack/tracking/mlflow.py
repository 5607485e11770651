"""MLflow, where evaluations land: a SQLite store under the data home by default (no server), or
a tracking server (PostgreSQL backend, S3/MinIO artifacts) named by `tracking.uri`.

This is the seed's `track_rag_experiment`: params, metrics, the per-question table, the pipeline
configuration, and the pipeline itself as a pyfunc model registered as `rag-pipeline`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aistack.errors import NotFound
from aistack.registry import MissingDependency
from aistack.settings import Settings

if TYPE_CHECKING:
    from aistack.evaluation.runner import EvalReport, PipelineConfig

QUESTIONS_TABLE = "eval/questions.json"
PIPELINE_FILE = "pipeline.json"
MODEL_NAME = "rag_pipeline"


def local_store(settings: Settings) -> Path:
    return settings.home / "mlflow"


def tracking_uri(settings: Settings) -> str:
    return settings.tracking.uri or f"sqlite:///{local_store(settings) / 'mlflow.db'}"


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise MissingDependency("experiment tracking needs MLflow: pip install 'aistack[tracking]'") from None
    return mlflow


def configure_s3(settings: Settings) -> None:
    """MLflow's S3 artifact client reads these variables (the seed's compose file sets them)."""
    t = settings.tracking
    if t.s3_endpoint_url:
        os.environ["MLFLOW_S3_ENDPOINT_URL"] = t.s3_endpoint_url
    if t.s3_access_key:
        os.environ["AWS_ACCESS_KEY_ID"] = t.s3_access_key.get_secret_value()
    if t.s3_secret_key:
        os.environ["AWS_SECRET_ACCESS_KEY"] = t.s3_secret_key.get_secret_value()


class Tracking:
    def __init__(self, settings: Settings):
        self.settings = settings
        # MLflow's own console output would break `--json`: no progress bars, no "View run" lines
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.mlflow = _import_mlflow()
        configure_s3(settings)
        self.uri = tracking_uri(settings)
        if not settings.tracking.uri:
            local_store(settings).mkdir(parents=True, exist_ok=True)
        self.mlflow.set_tracking_uri(self.uri)
        self.client = self.mlflow.MlflowClient(self.uri)

    def experiment_id(self, name: str | None = None) -> str:
        name = name or self.settings.tracking.experiment
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        # local store: artifacts under the data home, not ./mlruns wherever the command ran
        location = None if self.settings.tracking.uri else (local_store(self.settings) / "artifacts").as_uri()
        return self.client.create_experiment(name, artifact_location=location)

    def log(self, report: EvalReport, run_name: str | None = None, nested: bool = False,
            dataset: str | None = None) -> str:
        """One run: params, metrics, the question table, pipeline.json and the registered model."""
        from aistack.tracking import pyfunc

        mlflow = self.mlflow
        with mlflow.start_run(experiment_id=self.experiment_id(), run_name=run_name, nested=nested) as run:
            mlflow.log_params(report.config.params())
            mlflow.log_metrics(report.metrics)
            if dataset:
                mlflow.set_tag("dataset", dataset)
            if report.problems:
                mlflow.log_text("\n".join(report.problems) + "\n", "eval/dataset_problems.txt")
            mlflow.log_table(report.table(), QUESTIONS_TABLE)
            mlflow.log_dict(report.config.model_dump(), PIPELINE_FILE)
            mlflow.pyfunc.log_model(
                name=MODEL_NAME, python_model=pyfunc.__file__, model_config=report.config.model_dump(),
                pip_requirements=["aistack[tracking]"],
                registered_model_name=self.settings.tracking.registered_model)
            return run.info.run_id

    def parent_run(self, run_name: str) -> Any:
        """A run that holds nested ones (a sweep)."""
        return self.mlflow.start_run(experiment_id=self.experiment_id(), run_name=run_name)

    def version_of(self, run_id: str) -> str:
        name = self.settings.tracking.registered_model
        versions = self.client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        if not versions:
            raise NotFound(f"run {run_id} registered no version of '{name}'")
        return versions[0].version

    def register(self, run_id: str, alias: str) -> str:
        """Point `alias` (champion, challenger...) at the version this run registered."""
        version = self.version_of(run_id)
        self.client.set_registered_model_alias(self.settings.tracking.registered_model, alias, version)
        return version

    def run(self, run_id: str) -> Any:
        try:
            return self.client.get_run(run_id)
        except self.mlflow.exceptions.MlflowException:
            raise NotFound(f"no run {run_id} in the tracking store", detail=self.uri) from None

    def questions(self, run_id: str) -> list[dict[str, Any]]:
        """The per-question results a run logged (mlflow.log_table's {"columns", "data"})."""
        self.run(run_id)
        try:
            table = self.mlflow.artifacts.load_dict(f"runs:/{run_id}/{QUESTIONS_TABLE}")
        except self.mlflow.exceptions.MlflowException:
            raise NotFound(f"run {run_id} has no {QUESTIONS_TABLE}: it is not an aistack evaluation") from None
        return [dict(zip(table["columns"], row)) for row in table["data"]]

    def pipeline(self, alias: str) -> PipelineConfig:
        """The configuration behind `rag-pipeline@alias`."""
        from aistack.evaluation.runner import PipelineConfig

        name = self.settings.tracking.registered_model
        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except self.mlflow.exceptions.MlflowException:
            raise NotFound(f"'{name}' has no alias '{alias}' in the tracking store", detail=self.uri) from None
        config = self.mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{PIPELINE_FILE}")
        return PipelineConfig.model_validate(config)
