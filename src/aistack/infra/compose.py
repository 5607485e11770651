"""`aistack stack render`: the production compose bundle, from settings.

The seed's compose files (vLLM, the vector stores, MLflow with PostgreSQL and MinIO) with its
images, ports, volumes and GPU reservation, plus monitoring, nginx and the aistack gateway. Every
secret is a file under secrets/ that the operator writes; no value is ever put in a compose file.
Each file is checked against the Compose specification's JSON schema before it is written.

Fixed from the seed:
- MLflow's `--backend-store-uri postgresql://mlflow:${DB_PASSWORD}@...` read an environment
  variable nobody set, while the password was mounted as a secret file; and boto3 does not read
  `AWS_ACCESS_KEY_ID_FILE`. The MLflow command now reads the secret files itself.
- The stock MLflow image has neither the PostgreSQL driver nor boto3: a two-line Dockerfile adds them.
- Nothing created the `mlflow-artifacts` bucket: a one-shot `minio-init` service does.
- `version: "3.9"` is obsolete in Compose v2 and left out; `runtime: nvidia` is redundant with the
  device reservation and fails where that legacy runtime is not registered, so it is left out too.
- `vllm/vllm-openai:latest` is pinned.
- Closed by default: the seed published every service on all interfaces with no authentication.
  Only nginx is published (HTTPS, plain HTTP redirects), and the gateway only with
  `stack.publish_gateway`; MLflow and Grafana listen on the host's loopback (reach them over SSH;
  Grafana has its login); everything else is on the compose network only. vLLM and Qdrant require
  API keys from secret files, which the gateway reads too.
- No secret in a process's arguments: the seed's MLflow command put the database password in
  argv, and MinIO's `mc alias set` its credentials. They go through environment variables set
  from the secret files (`MLFLOW_BACKEND_STORE_URI`, `MC_HOST_local`), and `validate` refuses a
  command that reads a secret anywhere but in an `export`."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aistack.llm.vllm import vllm_args
from aistack.settings import Settings

SECRETS = {
    "db_password": "MLflow's PostgreSQL password",
    "minio_user": "MinIO root user (also MLflow's S3 access key)",
    "minio_password": "MinIO root password (also MLflow's S3 secret key)",
    "grafana_admin_password": "Grafana's admin password",
    "aistack_api_keys": "the gateway's API keys, one per line",
    "aistack_admin_keys": "the gateway's admin keys (deployments, agent approvals), one per line",
    "hf_token": "Hugging Face token for gated models (Llama 3.1)",
    "vllm_api_key": "the key vLLM requires (VLLM_API_KEY), which the gateway sends",
    "qdrant_api_key": "the key Qdrant requires, which the gateway sends",
}
# a secret read into a process's environment, never into its arguments
EXPORTED = re.compile(r'export\s+[A-Za-z_][A-Za-z0-9_]*="[^"]*"(\s+[A-Za-z_][A-Za-z0-9_]*="[^"]*")*')


def exported_then(exports: str, command: str) -> str:
    """A shell line for `sh -c`: set variables from secret files, then exec the command."""
    return f"export {exports}; exec {command}"


class ComposeInvalid(Exception):
    pass


def _secrets(*names: str) -> dict[str, Any]:
    return {name: {"file": f"./secrets/{name}.txt"} for name in names}


def _gpu(count: int) -> dict[str, Any]:
    return {"resources": {"reservations": {"devices": [{"driver": "nvidia", "count": count, "capabilities": ["gpu"]}]}}}


def vllm(s: Settings) -> dict[str, Any]:
    c = s.stack
    command = vllm_args(s.vllm)
    start = exported_then('VLLM_API_KEY="$$(cat /run/secrets/vllm_api_key)"',
                          'python3 -m vllm.entrypoints.openai.api_server "$$@"')
    return {"services": {"vllm": {
        "image": c.vllm_image, "restart": "unless-stopped",
        "environment": {"NVIDIA_VISIBLE_DEVICES": "all", "HF_TOKEN_PATH": "/run/secrets/hf_token"},
        "volumes": ["./models:/root/.cache/huggingface"], "ipc": "host",
        "entrypoint": ["/bin/sh", "-c", start, "vllm"], "command": command,
        "secrets": ["hf_token", "vllm_api_key"], "deploy": _gpu(c.vllm_gpus),
        "healthcheck": {"test": ["CMD", "curl", "-fsS", "http://localhost:8000/health"], "interval": "30s",
                        "timeout": "5s", "retries": 3, "start_period": "300s"}}},
        "secrets": _secrets("hf_token", "vllm_api_key")}


def vectordb(s: Settings) -> dict[str, Any]:
    c = s.stack
    return {"services": {
        "qdrant": {"image": c.qdrant_image, "restart": "unless-stopped",
                   "entrypoint": ["/bin/sh", "-c", exported_then(
                       'QDRANT__SERVICE__API_KEY="$$(cat /run/secrets/qdrant_api_key)"', "./entrypoint.sh")],
                   "secrets": ["qdrant_api_key"], "volumes": ["qdrant_data:/qdrant/storage"],
                   "environment": {"QDRANT__SERVICE__GRPC_PORT": "6334", "QDRANT__STORAGE__STORAGE_PATH": "/qdrant/storage",
                                   "QDRANT__STORAGE__OPTIMIZERS__MEMMAP_THRESHOLD_KB": "20480"}},
        "chromadb": {"image": c.chroma_image, "restart": "unless-stopped",
                     "volumes": ["chroma_data:/chroma/chroma"],
                     "environment": {"ANONYMIZED_TELEMETRY": "false", "IS_PERSISTENT": "true"}}},
        "volumes": {"qdrant_data": {}, "chroma_data": {}},
        "secrets": _secrets("qdrant_api_key")}


MLFLOW_COMMAND = exported_then(
    'AWS_ACCESS_KEY_ID="$$(cat /run/secrets/minio_user)" AWS_SECRET_ACCESS_KEY="$$(cat /run/secrets/minio_password)" '
    'MLFLOW_BACKEND_STORE_URI="postgresql://mlflow:$$(cat /run/secrets/db_password)@mlflow-db:5432/mlflow"',
    "mlflow server --host 0.0.0.0 --port 5000 --default-artifact-root s3://mlflow-artifacts/")
MINIO_INIT = exported_then(
    'MC_HOST_local="http://$$(cat /run/secrets/minio_user):$$(cat /run/secrets/minio_password)@minio:9000"',
    "mc mb --ignore-existing local/mlflow-artifacts")


def mlflow(s: Settings) -> dict[str, Any]:
    c = s.stack
    return {"services": {
        "mlflow-db": {"image": c.postgres_image, "restart": "unless-stopped",
                      "environment": {"POSTGRES_DB": "mlflow", "POSTGRES_USER": "mlflow",
                                      "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"},
                      "volumes": ["mlflow_pg_data:/var/lib/postgresql/data"], "secrets": ["db_password"],
                      "healthcheck": {"test": ["CMD", "pg_isready", "-U", "mlflow"], "interval": "10s", "retries": 5}},
        "minio": {"image": c.minio_image, "restart": "unless-stopped", "command": ["server", "/data", "--console-address", ":9001"],
                  "environment": {"MINIO_ROOT_USER_FILE": "/run/secrets/minio_user",
                                  "MINIO_ROOT_PASSWORD_FILE": "/run/secrets/minio_password"},
                  "volumes": ["minio_data:/data"],
                  "secrets": ["minio_user", "minio_password"]},
        "minio-init": {"image": c.minio_client_image, "depends_on": ["minio"], "restart": "on-failure",
                       "entrypoint": ["/bin/sh", "-c"], "command": [MINIO_INIT], "secrets": ["minio_user", "minio_password"]},
        "mlflow": {"build": {"context": ".", "dockerfile": "mlflow.Dockerfile"}, "image": "aistack-mlflow:local",
                   "restart": "unless-stopped",
                   "depends_on": {"mlflow-db": {"condition": "service_healthy"}, "minio": {"condition": "service_started"}},
                   "ports": ["127.0.0.1:5000:5000"], "entrypoint": ["/bin/sh", "-c"], "command": [MLFLOW_COMMAND],
                   "environment": {"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000"},
                   "secrets": ["db_password", "minio_user", "minio_password"]}},
        "volumes": {"mlflow_pg_data": {}, "minio_data": {}},
        "secrets": _secrets("db_password", "minio_user", "minio_password")}


def monitoring(s: Settings) -> dict[str, Any]:
    c = s.stack
    return {"services": {
        "prometheus": {"image": c.prometheus_image, "restart": "unless-stopped",
                       "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                                   "--storage.tsdb.retention.time=30d"],
                       "volumes": ["./monitoring:/etc/prometheus:ro", "prometheus_data:/prometheus"],
                       "secrets": ["qdrant_api_key"]},  # Qdrant's /metrics needs its key
        "alertmanager": {"image": c.alertmanager_image, "restart": "unless-stopped",
                         "command": ["--config.file=/etc/alertmanager/alertmanager.yml"],
                         "volumes": ["./monitoring/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"]},
        "grafana": {"image": c.grafana_image, "restart": "unless-stopped", "ports": ["127.0.0.1:3000:3000"],
                    "environment": {"GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/grafana_admin_password"},
                    "volumes": ["./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro",
                                "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards/aistack:ro", "grafana_data:/var/lib/grafana"],
                    "secrets": ["grafana_admin_password"]},
        "node-exporter": {"image": c.node_exporter_image, "restart": "unless-stopped", "pid": "host",
                          "command": ["--path.rootfs=/host"], "volumes": ["/:/host:ro,rslave"]},
        "nvidia-dcgm-exporter": {"image": c.dcgm_exporter_image, "restart": "unless-stopped",
                                 "cap_add": ["SYS_ADMIN"], "deploy": _gpu(1)}},
        "volumes": {"prometheus_data": {}, "grafana_data": {}},
        "secrets": _secrets("grafana_admin_password", "qdrant_api_key")}


def gateway(s: Settings) -> dict[str, Any]:
    c = s.stack
    return {"services": {
        "aistack": {"image": c.aistack_image, "restart": "unless-stopped",
                    **({"ports": [f"{c.gateway_port}:8000"]} if c.publish_gateway else {}),
                    "environment": {"AISTACK_PROFILES": "production", "VLLM_BASE_URL": "http://vllm:8000/v1",
                                    "AISTACK_API_KEYS_FILE": "/run/secrets/aistack_api_keys",
                                    "VLLM_API_KEY_FILE": "/run/secrets/vllm_api_key",
                                    "AISTACK_DEPLOY__ADMIN_KEYS_FILE": "/run/secrets/aistack_admin_keys",
                                    "AISTACK_VECTORSTORE__QDRANT__URL": "http://qdrant:6333",
                                    "AISTACK_VECTORSTORE__QDRANT__API_KEY_FILE": "/run/secrets/qdrant_api_key",
                                    "AISTACK_TRACKING__URI": "http://mlflow:5000",
                                    "AISTACK_AGENTS__PROMETHEUS_URL": "http://prometheus:9090",
                                    "AISTACK_HOME": "/data"},
                    "volumes": ["aistack_data:/data"],
                    "secrets": ["aistack_api_keys", "aistack_admin_keys", "vllm_api_key", "qdrant_api_key"],
                    "healthcheck": {"test": ["CMD", "python", "-c",
                                             "import urllib.request; urllib.request.urlopen('http://localhost:8000/health')"],
                                    "interval": "30s", "timeout": "5s", "retries": 3}},
        "nginx": {"image": c.nginx_image, "restart": "unless-stopped", "depends_on": ["aistack"],
                  "ports": ["80:80", "443:443"],
                  "volumes": ["./nginx/llm.conf:/etc/nginx/conf.d/default.conf:ro", "./nginx/tls:/etc/nginx/tls:ro"]}},
        "volumes": {"aistack_data": {}},
        "secrets": _secrets("aistack_api_keys", "aistack_admin_keys", "vllm_api_key", "qdrant_api_key")}


FILES = {"docker-compose.vllm.yml": vllm, "docker-compose.vectordb.yml": vectordb,
         "docker-compose.mlflow.yml": mlflow, "docker-compose.monitoring.yml": monitoring,
         "docker-compose.gateway.yml": gateway}

MLFLOW_DOCKERFILE = """# The stock MLflow image lacks the PostgreSQL driver and boto3 (S3/MinIO artifacts).
FROM {image}
RUN pip install --no-cache-dir psycopg2-binary boto3
"""
AISTACK_DOCKERFILE = """# The aistack gateway. Build from a checkout: docker build -t aistack -f aistack.Dockerfile /path/to/aistack
FROM python:3.11-slim
COPY . /src
RUN pip install --no-cache-dir '/src[tracking,redis,postgres]' && rm -rf /src
EXPOSE 8000
CMD ["aistack", "serve", "--host", "0.0.0.0", "--port", "8000"]
"""
NGINX = """# aistack behind nginx, HTTPS only (the seed's limit_req zone lives in the gateway: deploy.rate_limit).
# Put the certificate and key in nginx/tls/ (see nginx/tls/README.md).
upstream aistack {{ server aistack:8000; keepalive 32; }}
server {{
    listen 80;
    return 301 https://$host$request_uri;
}}
server {{
    listen 443 ssl;
    ssl_certificate /etc/nginx/tls/cert.pem;
    ssl_certificate_key /etc/nginx/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 64m;
    location / {{
        proxy_pass http://aistack;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_buffering off;             # server-sent events stream through
        proxy_read_timeout {timeout}s;
    }}
}}
"""


TLS_README = """nginx serves HTTPS with `cert.pem` and `key.pem` from this folder (chmod 600 the key).
Use your CA's certificate, or for a first try a self-signed one:

    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=aistack.example" \\
      -keyout key.pem -out cert.pem
"""


def schema() -> dict[str, Any]:
    return json.loads((resources.files("aistack.infra") / "data" / "compose_spec.json").read_text())


def validate(document: dict[str, Any], name: str) -> None:
    import jsonschema

    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        raise ComposeInvalid("; ".join(f"{name}: {'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors))
    for service, spec in document.get("services", {}).items():
        environment = spec.get("environment") or {}
        pairs = environment.items() if isinstance(environment, dict) else (e.partition("=")[::2] for e in environment)
        for key, value in pairs:
            secret = any(word in key.upper() for word in ("PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY"))
            if secret and value and not key.upper().endswith(("_FILE", "_PATH")):
                raise ComposeInvalid(f"{name}: {service} would get the secret {key} as a value; use {key}_FILE")
        for part in _command_parts(spec):
            if "/run/secrets/" in EXPORTED.sub("", part):
                raise ComposeInvalid(f"{name}: {service} reads a secret into a process's arguments (visible in ps "
                                     "and /proc); export it into a variable instead")


def _command_parts(spec: dict[str, Any]) -> list[str]:
    parts = []
    for field in ("entrypoint", "command"):
        value = spec.get(field) or []
        parts += [value] if isinstance(value, str) else [str(v) for v in value]
    return parts


def render_stack(settings: Settings, out: Path) -> list[Path]:
    """Write the bundle under `out` (compose files, Dockerfiles, nginx, monitoring, secrets/README)."""
    from aistack.observability.render import render as render_monitoring

    documents = {name: build(settings) for name, build in FILES.items()}
    for name, document in documents.items():
        validate(document, name)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents.items():
        path = out / name
        path.write_text(f"# {name}: rendered by `aistack stack render`; edit settings, not this file\n"
                        + yaml.safe_dump(document, sort_keys=False, width=120), encoding="utf-8")
        written.append(path)
    texts = {"mlflow.Dockerfile": MLFLOW_DOCKERFILE.format(image=settings.stack.mlflow_image),
             "aistack.Dockerfile": AISTACK_DOCKERFILE,
             "nginx/llm.conf": NGINX.format(timeout=int(settings.llm.openai.read_timeout)),
             "secrets/README.md": "Write one file per secret here (chmod 600); nothing in the compose files holds a value.\n\n"
                                  + "".join(f"- `{n}.txt`: {what}\n" for n, what in SECRETS.items()),
             "nginx/tls/README.md": TLS_README}
    for name, text in texts.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    monitoring_settings = settings.model_copy(deep=True)
    monitoring_settings.observability.targets.gateway = ["aistack:8000"]
    written += render_monitoring(monitoring_settings, out / "monitoring", "http://prometheus:9090",
                                 credentials={"qdrant": "/run/secrets/qdrant_api_key"})
    return written
