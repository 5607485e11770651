"""`aistack eval` as a user runs it, logged to MLflow: on the local SQLite default (no server),
and on a real MLflow tracking server with a PostgreSQL backend and S3 artifacts on moto_server.
Everything is read back through the MLflow client; the registered pipeline is loaded as a pyfunc
and served by the gateway under its alias."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import httpx
import mlflow
import openai
import pytest
from support.postgres import fresh_database
from support.servers import ServerProcess, free_port, start_gateway, start_mlflow, start_moto
from support.cli import AISTACK, invoke

from aistack.settings import Settings
from aistack.testing.tracking import TrackingContract
from aistack.tracking.mlflow import Tracking

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DEVSET = Path(__file__).resolve().parents[2] / "benchmarks" / "devset"
MODEL = "smollm2-135m-instruct"
PARAMS = {"embedder", "llm_model", "chunk_size", "chunk_overlap", "top_k", "retrieval", "temperature", "collection"}
METRICS = {"precision_at_5", "returned_precision", "hit_at_5", "recall_at_5", "mrr", "ndcg_at_5", "context_precision", "off_topic_refused",
           "faithfulness_lexical", "retrieval_avg_ms", "retrieval_p50_ms", "retrieval_p95_ms", "retrieval_p99_ms",
           "generation_p95_ms", "total_p95_ms", "total_p99_ms", "total_within_budget"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four devset questions, one off-topic, and one broken line (reported, skipped)."""
    lines = (DEVSET / "questions.jsonl").read_text().splitlines()
    path = tmp_path_factory.mktemp("dataset") / "questions.jsonl"
    path.write_text("\n".join([*lines[:4], '{"question": "no sources"}', lines[-1]]) + "\n")
    return path


def eval_cli(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = invoke("eval", *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def check_logged(client: Any, run_id: str, alias: str) -> Any:
    logged = client.get_run(run_id)
    assert PARAMS <= set(logged.data.params)
    assert logged.data.params["top_k"] == "5" and logged.data.params["llm_model"] == MODEL
    assert METRICS <= set(logged.data.metrics), METRICS - set(logged.data.metrics)
    assert logged.data.metrics["questions"] == 4 and logged.data.metrics["off_topic_questions"] == 1
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {a.path for a in client.list_artifacts(run_id, "eval")}
    assert {"pipeline.json", "eval/questions.json", "eval/dataset_problems.txt"} <= artifacts
    version = client.get_model_version_by_alias("rag-pipeline", alias)
    assert version.run_id == run_id
    return logged


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("eval-home")
    env = {"AISTACK_HOME": str(home)}
    first = eval_cli("run", str(dataset), "--corpus", str(DEVSET / "corpus"), "--alias", "champion",
                     "--max-tokens", "32", env=env)  # short answers: the run is checked, not their quality
    return {"home": home, "env": env, "first": first}


def test_a_run_on_the_local_sqlite_store_is_all_there(local: dict[str, Any]) -> None:
    client = mlflow.MlflowClient(f"sqlite:///{local['home'] / 'mlflow' / 'mlflow.db'}")
    logged = check_logged(client, local["first"]["run_id"], "champion")
    assert logged.data.metrics["recall_at_5"] > 0.5
    assert local["first"]["skipped"] == ["line 5: relevant_sources: Field required"]
    table = mlflow.artifacts.load_dict(f"{logged.info.artifact_uri}/eval/questions.json")
    assert len(table["data"]) == 5 and "faithfulness_lexical" in table["columns"]
    assert str(local["home"]) in logged.info.artifact_uri  # under the data home, not ./mlruns


def test_compare_register_and_serve_the_champion(local: dict[str, Any], dataset: Path, tmp_path: Path) -> None:
    env = local["env"]
    second = eval_cli("run", str(dataset), "--corpus", str(DEVSET / "corpus"), "--top-k", "1", "--no-answers",
                      env=env)
    diffs = {d["metric"]: d for d in eval_cli("compare", local["first"]["run_id"], second["run_id"], env=env)}
    assert {"precision", "hit", "recall", "mrr", "ndcg", "retrieval_ms"} <= set(diffs)
    assert "generation_ms" not in diffs  # the second run generated nothing
    assert all(d["verdict"] in ("A better", "B better", "no clear difference") for d in diffs.values())
    assert diffs["recall"]["low"] <= diffs["recall"]["delta"] <= diffs["recall"]["high"]
    registered = invoke("eval", "register", second["run_id"], "--alias", "challenger", env=env)
    assert registered.returncode == 0 and "rag-pipeline@challenger" in registered.stdout

    # the champion as a pyfunc: questions in, answers out, on this data home
    mlflow.set_tracking_uri(f"sqlite:///{local['home'] / 'mlflow' / 'mlflow.db'}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AISTACK_HOME", str(local["home"]))
        patch.setenv("AISTACK_PROFILES", "test")
        model = mlflow.pyfunc.load_model("models:/rag-pipeline@champion")
        try:
            [answer] = model.predict(["Which modules must be listed in /etc/modules for VFIO?"])
        finally:
            model.unwrap_python_model().close()  # releases the embedded Qdrant for the gateway
    assert isinstance(answer, str) and answer.strip()

    # and by name through the gateway, with the champion's collection
    gateway = start_gateway({"AISTACK_HOME": str(local["home"])}, tmp_path, "pipelines")
    try:
        sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
        reply = sdk.chat.completions.create(model="rag-pipeline@champion", max_tokens=24, messages=[
            {"role": "user", "content": "Which modules must be listed in /etc/modules for VFIO?"}])
        assert reply.model_extra["rag"]["collection"] == local["first"]["config"]["collection"]
        assert reply.model_extra["sources"] and reply.choices[0].message.content
        with pytest.raises(openai.NotFoundError, match="no alias 'nope'"):
            sdk.chat.completions.create(model="rag-pipeline@nope", messages=[{"role": "user", "content": "hi"}])
    finally:
        gateway.stop()


def test_sweep_nests_a_run_per_configuration(local: dict[str, Any], dataset: Path) -> None:
    done = invoke("eval", "sweep", str(dataset), "--corpus", str(DEVSET / "corpus"), "--chunk-size", "512,1024",
                  "--top-k", "3", "--no-answers", "--json", env=local["env"])
    assert done.returncode == 0, done.stderr
    assert "sweep" in done.stderr  # the progress bar
    result = json.loads(done.stdout)
    client = mlflow.MlflowClient(f"sqlite:///{local['home'] / 'mlflow' / 'mlflow.db'}")
    children = [client.get_run(r["run_id"]) for r in result["runs"]]
    assert [c.data.params["chunk_size"] for c in children] == ["512", "1024"]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {result["parent_run_id"]}


def test_bad_input_is_a_clear_error(local: dict[str, Any], tmp_path: Path) -> None:
    missing = invoke("eval", "run", str(tmp_path / "none.jsonl"), env=local["env"])
    assert missing.returncode == 1 and "cannot read dataset" in missing.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text("nope\n")
    assert "line 1: not valid JSON" in " ".join(invoke("eval", "run", str(broken), env=local["env"]).stderr.split())
    unknown = invoke("eval", "compare", "abc", "def", env=local["env"])
    assert unknown.returncode == 1 and "no run abc" in unknown.stderr


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """MLflow with a PostgreSQL backend (a database made for this module) and S3 artifacts on moto."""
    tmp_path = tmp_path_factory.mktemp("tracking-server")
    with fresh_database("mlflow") as database:
        moto = start_moto(tmp_path)
        s3 = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "MLFLOW_S3_ENDPOINT_URL": moto.url}
        boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="test",
                     aws_secret_access_key="test").create_bucket(Bucket="mlflow-artifacts")
        server = start_mlflow(database, "s3://mlflow-artifacts/", s3, tmp_path)
        try:
            yield {"url": server.url, "s3": moto.url}
        finally:
            server.stop()
            moto.stop()


def test_a_run_on_a_tracking_server_with_postgres_and_s3(tracking_server: dict[str, str], dataset: Path,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AISTACK_HOME": str(tmp_path / "home"), "AISTACK_TRACKING__URI": tracking_server["url"],
           "AISTACK_TRACKING__S3_ENDPOINT_URL": tracking_server["s3"],
           "AISTACK_TRACKING__S3_ACCESS_KEY": "test", "AISTACK_TRACKING__S3_SECRET_KEY": "test"}
    s3 = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "MLFLOW_S3_ENDPOINT_URL": tracking_server["s3"]}
    for name in s3:
        monkeypatch.setenv(name, "")  # empty, and undone after the test: the command (in process) sets them
    result = eval_cli("run", str(dataset), "--corpus", str(DEVSET / "corpus"), "--alias", "champion",
                      "--max-tokens", "32", env=env)
    # from its settings, where MLflow's client reads them; reading artifacts back below uses them too
    assert {name: os.environ[name] for name in s3} == s3
    logged = check_logged(mlflow.MlflowClient(tracking_server["url"]), result["run_id"], "champion")
    assert logged.info.artifact_uri.startswith("s3://mlflow-artifacts/")
    keys = [o["Key"] for o in boto3.client(
        "s3", endpoint_url=tracking_server["s3"], region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test").list_objects_v2(Bucket="mlflow-artifacts")["Contents"]]
    assert any(k.endswith(f"{result['run_id']}/artifacts/eval/questions.json") for k in keys)
    assert any(k.endswith("/artifacts/MLmodel") for k in keys)


def test_tracking_ui_serves_the_local_store(local: dict[str, Any], tmp_path: Path) -> None:
    port = free_port()
    ui = ServerProcess([AISTACK, "tracking", "ui", "--port", str(port)], port, "/health",
                       env={**local["env"], "AISTACK_PROFILES": "test"}, log=tmp_path / "ui.log", timeout=90)
    try:
        found = httpx.post(ui.url + "/api/2.0/mlflow/experiments/search", json={"max_results": 10}).json()
        assert "rag-pipeline" in [e["name"] for e in found["experiments"]]
    finally:
        ui.stop()


class TestLocalSQLiteTracking(TrackingContract):
    @pytest.fixture
    def tracking(self, tmp_path: Path) -> Tracking:
        return Tracking(Settings(home=tmp_path))


class TestTrackingServer(TrackingContract):
    @pytest.fixture
    def tracking(self, tracking_server: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tracking:
        for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                            "MLFLOW_S3_ENDPOINT_URL": tracking_server["s3"]}.items():
            monkeypatch.setenv(name, value)  # Tracking sets them from settings too: undone after the test
        return Tracking(Settings.model_validate({"home": str(tmp_path), "tracking": {
            "uri": tracking_server["url"], "s3_endpoint_url": tracking_server["s3"],
            "s3_access_key": "test", "s3_secret_key": "test"}}))
