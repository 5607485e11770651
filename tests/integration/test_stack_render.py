"""`aistack stack render`: every compose file parses with PyYAML and validates against the Compose
specification's JSON schema (the copy shipped in the docker-compose 1.29.2 wheel, vendored with
its NOTICE); the seed's GPU reservation, ports and volumes are kept; no secret value is written;
the seed's ${DB_PASSWORD} pitfall is gone; and the rendered prometheus.yml passes promtool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from support.servers import BIN

from aistack.infra.compose import ComposeInvalid, validate

pytestmark = pytest.mark.integration
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "src/aistack/infra/data/compose_spec.json").read_text())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    done = subprocess.run([str(BIN / "aistack"), "stack", "render", "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def compose(bundle: Path, name: str) -> dict:
    return yaml.safe_load((bundle / f"docker-compose.{name}.yml").read_text())


@pytest.mark.parametrize("name", ["vllm", "vectordb", "mlflow", "monitoring", "gateway"])
def test_each_file_is_valid_compose(bundle: Path, name: str) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(compose(bundle, name))


def test_the_seeds_services_keep_their_gpu_ports_and_volumes(bundle: Path) -> None:
    vllm = compose(bundle, "vllm")["services"]["vllm"]
    assert vllm["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert vllm["ports"] == ["8000:8000"] and vllm["volumes"] == ["./models:/root/.cache/huggingface"]
    command = " ".join(vllm["command"])
    for option in ("--tensor-parallel-size 1", "--max-model-len 8192", "--gpu-memory-utilization 0.9",
                   "--enforce-eager", "--dtype float16"):
        assert option in command
    assert not vllm["image"].endswith(":latest")
    db = compose(bundle, "vectordb")
    assert db["services"]["qdrant"]["ports"] == ["6333:6333", "6334:6334"] and set(db["volumes"]) == {"qdrant_data", "chroma_data"}
    mlflow = compose(bundle, "mlflow")
    assert mlflow["services"]["minio"]["ports"] == ["9000:9000", "9001:9001"]
    assert mlflow["services"]["mlflow"]["ports"] == ["5000:5000"]


def test_no_secret_value_is_written_and_the_db_password_pitfall_is_fixed(bundle: Path) -> None:
    for path in bundle.glob("docker-compose.*.yml"):
        document = yaml.safe_load(path.read_text())
        for name, secret in (document.get("secrets") or {}).items():
            assert secret == {"file": f"./secrets/{name}.txt"}
        assert "${DB_PASSWORD}" not in path.read_text()
    command = compose(bundle, "mlflow")["services"]["mlflow"]["command"][0]
    assert '$$(cat /run/secrets/db_password)' in command  # read from the secret file at start, not from the env
    assert 'AWS_SECRET_ACCESS_KEY="$$(cat /run/secrets/minio_password)"' in command  # boto3 reads no *_FILE
    assert "psycopg2-binary boto3" in (bundle / "mlflow.Dockerfile").read_text()
    listed = (bundle / "secrets" / "README.md").read_text()
    assert all(f"`{n}.txt`" in listed for n in ("db_password", "minio_user", "minio_password", "aistack_api_keys"))
    assert not [p for p in (bundle / "secrets").iterdir() if p.name != "README.md"]


def test_the_monitoring_config_passes_promtool(bundle: Path) -> None:
    done = subprocess.run(["promtool", "check", "config", str(bundle / "monitoring" / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aistack:8000" in (bundle / "monitoring" / "prometheus.yml").read_text()


def test_invalid_documents_and_secret_values_are_refused() -> None:
    with pytest.raises(ComposeInvalid, match="services.x.ports"):
        validate({"services": {"x": {"image": "a", "ports": "8000"}}}, "bad.yml")
    with pytest.raises(ComposeInvalid, match="use POSTGRES_PASSWORD_FILE"):
        validate({"services": {"db": {"image": "postgres", "environment": {"POSTGRES_PASSWORD": "hunter2"}}}}, "leak.yml")
    with pytest.raises(ComposeInvalid, match="MINIO_ROOT_PASSWORD"):
        validate({"services": {"m": {"image": "minio", "environment": ["MINIO_ROOT_PASSWORD=x"]}}}, "leak.yml")
