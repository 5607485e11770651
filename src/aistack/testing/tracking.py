"""What every tracking store does (MLflow on local SQLite, or a tracking server with PostgreSQL and
S3): a logged evaluation keeps its params, metrics and per-question table; an alias names the
version a run registered and gives back its pipeline; unknown runs and aliases are a NotFound that
names no server. A backend's test subclasses TrackingContract and provides a `tracking` fixture."""

from __future__ import annotations

import uuid

import pytest

from aistack.errors import NotFound
from aistack.evaluation.runner import EvalReport, PipelineConfig, QuestionResult
from aistack.tracking.mlflow import Tracking


def report() -> EvalReport:
    config = PipelineConfig(collection=f"c{uuid.uuid4().hex[:8]}", embedder="all-MiniLM-L6-v2", llm_model="m",
                            chunk_size=512, chunk_overlap=64, top_k=3, retrieval="hybrid", rerank="none",
                            temperature=0.0, max_tokens=64)
    rows = [QuestionResult("What is IOMMU?", ["iommu.md"], ["iommu.md", "gpu.md"], False, precision=1 / 3,
                           recall=1.0, answer="It maps device memory [1].", total_ms=12.5),
            QuestionResult("Who won the 1998 cup?", [], [], True, refused=True, total_ms=3.0)]
    return EvalReport(config, rows, metrics={"precision_at_3": 1 / 3, "recall_at_3": 1.0, "questions": 1.0})


class TrackingContract:
    @pytest.fixture
    def tracking(self) -> Tracking:  # pragma: no cover - every backend provides it
        raise NotImplementedError

    def test_a_logged_evaluation_keeps_params_metrics_and_questions(self, tracking: Tracking) -> None:
        logged = report()
        run_id = tracking.log(logged, run_name="contract")
        run = tracking.run(run_id)
        assert run.data.params["collection"] == logged.config.collection and run.data.params["top_k"] == "3"
        assert run.data.metrics["recall_at_3"] == 1.0
        questions = tracking.questions(run_id)
        assert [q["question"] for q in questions] == ["What is IOMMU?", "Who won the 1998 cup?"]
        assert questions[0]["retrieved"] == ["iommu.md", "gpu.md"] and questions[1]["refused"] is True

    def test_an_alias_gives_back_the_pipeline_its_run_logged(self, tracking: Tracking) -> None:
        logged = report()
        run_id = tracking.log(logged)
        alias = f"a{uuid.uuid4().hex[:8]}"
        version = tracking.register(run_id, alias)
        assert version == tracking.version_of(run_id)
        assert tracking.pipeline(alias) == logged.config

    def test_unknown_runs_and_aliases_are_not_found_without_the_server(self, tracking: Tracking) -> None:
        for call in (lambda: tracking.run(uuid.uuid4().hex), lambda: tracking.pipeline("no-such-alias")):
            with pytest.raises(NotFound) as missing:
                call()
            assert tracking.uri not in missing.value.message
