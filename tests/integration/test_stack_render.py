"""`aistack stack render`: every compose file parses with PyYAML and validates against the Compose
specification's JSON schema (the copy shipped in the docker-compose 1.29.2 wheel, vendored with
its NOTICE); the seed's GPU reservation, ports and volumes are kept; no secret value is written;
the seed's ${DB_PASSWORD} pitfall is gone; and the rendered prometheus.yml passes promtool."""

from __future__ import annotations

import json
import os
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


def test_the_seeds_services_keep_their_gpu_and_volumes(bundle: Path) -> None:
    vllm = compose(bundle, "vllm")["services"]["vllm"]
    assert vllm["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert vllm["volumes"] == ["./models:/root/.cache/huggingface"]
    command = " ".join(vllm["command"])
    for option in ("--tensor-parallel-size 1", "--max-model-len 8192", "--gpu-memory-utilization 0.9",
                   "--enforce-eager", "--dtype float16"):
        assert option in command
    assert not vllm["image"].endswith(":latest")
    db = compose(bundle, "vectordb")
    assert set(db["volumes"]) == {"qdrant_data", "chroma_data"}


def published(bundle: Path) -> dict[str, list[str]]:
    return {service: spec["ports"] for path in bundle.glob("docker-compose.*.yml")
            for service, spec in yaml.safe_load(path.read_text())["services"].items() if spec.get("ports")}


def test_closed_by_default_only_nginx_is_published_and_vllm_and_qdrant_need_keys(bundle: Path) -> None:
    assert published(bundle) == {"nginx": ["80:80", "443:443"], "mlflow": ["127.0.0.1:5000:5000"],
                                 "grafana": ["127.0.0.1:3000:3000"]}  # MLflow and Grafana: the host's loopback only
    vllm = compose(bundle, "vllm")["services"]["vllm"]
    assert vllm["entrypoint"][2].startswith('export VLLM_API_KEY="$$(cat /run/secrets/vllm_api_key)"; exec ')
    assert "vllm_api_key" in vllm["secrets"]
    qdrant = compose(bundle, "vectordb")["services"]["qdrant"]
    assert 'QDRANT__SERVICE__API_KEY="$$(cat /run/secrets/qdrant_api_key)"' in qdrant["entrypoint"][2]
    gateway = compose(bundle, "gateway")["services"]["aistack"]
    assert {"vllm_api_key", "qdrant_api_key"} <= set(gateway["secrets"])
    assert gateway["environment"]["AISTACK_VECTORSTORE__QDRANT__API_KEY_FILE"] == "/run/secrets/qdrant_api_key"
    nginx = (bundle / "nginx" / "llm.conf").read_text()
    assert "listen 443 ssl;" in nginx and "return 301 https://" in nginx
    prometheus = yaml.safe_load((bundle / "monitoring" / "prometheus.yml").read_text())
    qdrant_job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "qdrant")
    assert qdrant_job["authorization"] == {"credentials_file": "/run/secrets/qdrant_api_key"}


def test_the_gateway_port_is_published_only_when_asked(tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "aistack"), "stack", "render", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "AISTACK_STACK__PUBLISH_GATEWAY": "true"})
    assert done.returncode == 0, done.stderr
    assert published(tmp_path)["aistack"] == ["8080:8000"]


def test_the_gateway_starts_from_the_rendered_environment(bundle: Path, tmp_path: Path) -> None:
    """The settings loader reads the gateway's rendered environment, with the secrets it mounts
    where the container has them: a file it reads but does not mount would stop it (it used to
    crash-loop on vllm_api_key)."""
    from aistack.settings import load_settings

    gateway = compose(bundle, "gateway")["services"]["aistack"]
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    for name in gateway["secrets"]:
        (secrets / name).write_text(f"{name}-value\n")
    environ = {key: value.replace("/run/secrets/", f"{secrets}/") for key, value in gateway["environment"].items()}
    loaded = load_settings({**environ, "AISTACK_SETTINGS_DIR": str(tmp_path)})
    assert loaded.llm.openai.api_key.get_secret_value() == "vllm_api_key-value"
    assert loaded.vectorstore.qdrant.api_key.get_secret_value() == "qdrant_api_key-value"
    assert [k.get_secret_value() for k in loaded.server.api_keys] == ["aistack_api_keys-value"]
    assert loaded.server.host == "0.0.0.0" and loaded.llm.backend == "openai"


def test_no_secret_reaches_a_process_argument(bundle: Path) -> None:
    for path in bundle.glob("docker-compose.*.yml"):
        validate(yaml.safe_load(path.read_text()), path.name)  # the check below, on every service
    mlflow = compose(bundle, "mlflow")["services"]
    assert "--backend-store-uri" not in mlflow["mlflow"]["command"][0]
    assert 'MLFLOW_BACKEND_STORE_URI="postgresql://mlflow:$$(cat /run/secrets/db_password)@' in mlflow["mlflow"]["command"][0]
    assert "mc alias set" not in mlflow["minio-init"]["command"][0]
    with pytest.raises(ComposeInvalid, match="into a process's arguments"):
        validate({"services": {"x": {"image": "a", "entrypoint": ["/bin/sh", "-c"],
                                     "command": ['exec app --password "$$(cat /run/secrets/db_password)"']}}}, "argv.yml")


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
    # --syntax-only: the Qdrant key file it names exists inside the container, not here
    done = subprocess.run(["promtool", "check", "config", "--syntax-only", str(bundle / "monitoring" / "prometheus.yml")],
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
