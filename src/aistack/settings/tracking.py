"""Settings of experiment tracking (MLflow) and RAG evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from aistack.settings.section import Section


class TrackingSettings(Section):
    uri: str | None = Field(
        None, description="MLflow tracking URI (http://mlflow:5000). Empty: SQLite under <home>/mlflow, no server.")
    experiment: str = Field("rag-pipeline", description="Experiment evaluations are logged to.")
    registered_model: str = Field("rag-pipeline", description="Name pipelines are registered under.")
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint for artifacts (MinIO: http://minio:9000). Empty: AWS, or local files.")
    s3_access_key: SecretStr | None = Field(None, description="S3 access key id for artifacts.")
    s3_access_key_file: Path | None = Field(None, description="File holding the access key id.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key for artifacts.")
    s3_secret_key_file: Path | None = Field(None, description="File holding the secret key.")
    ui_host: str = Field("127.0.0.1", description="Address `aistack tracking ui` binds to.")
    ui_port: int = Field(5000, ge=1, le=65535, description="Port of `aistack tracking ui`.")


class EvalSettings(Section):
    judge: Literal["none", "llm"] = Field(
        "none", description="Faithfulness judged by an LLM too (llm), or only the lexical estimate (none).")
    judge_model: str | None = Field(None, description="Model that judges. Empty: llm.default_model.")
    judge_max_claims: int = Field(6, ge=1, le=20, description="Claims the judge splits an answer into, at most.")
    judge_context_chars: int = Field(1500, ge=200, description="Context shown to the judge, at most.")
    support_threshold: float = Field(
        0.6, gt=0, le=1, description="Share of a sentence's content words the context must hold (lexical estimate).")
    bootstrap_samples: int = Field(2000, ge=100, description="Resamples for `aistack eval compare` intervals.")
    retrieval_budget_ms: float = Field(200, gt=0, description="The seed's retrieval budget.")
    generation_budget_ms: float = Field(2500, gt=0, description="The seed's generation budget.")
    total_budget_ms: float = Field(3000, gt=0, description="The seed's end-to-end budget.")
