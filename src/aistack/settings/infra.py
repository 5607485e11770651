"""Settings of the Proxmox VE API (the agents' node-status tool, `aistack infra plan|apply`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from aistack.settings.section import Section


class ProxmoxSettings(Section):
    host: str = Field("127.0.0.1", description="Proxmox VE API host.")
    port: int = Field(8006, ge=1, le=65535, description="Proxmox VE API port.")
    user: str = Field("root@pam", description="User the API token belongs to.")
    token_name: str = Field("aistack", description="API token id (Datacenter > Permissions > API Tokens).")
    token_value: SecretStr | None = Field(None, description="API token secret.")
    token_value_file: Path | None = Field(None, description="File holding the API token secret.")
    verify_ssl: bool = Field(True, description="Verify the API's TLS certificate.")
    ca_bundle: Path | None = Field(None, description="CA file to verify the certificate with (/etc/pve/pve-root-ca.pem).")
    nodes: list[str] = Field(default_factory=list, description="The cluster's nodes (offered to agents as a choice).")
    timeout: float = Field(15, gt=0, description="Seconds one API request may take.")
    task_timeout: float = Field(600, gt=0, description="Seconds `infra apply` waits for one task (create, start).")


class StackSettings(Section):
    """What `aistack stack render` writes into the production compose bundle."""

    vllm_image: str = Field("vllm/vllm-openai:v0.6.4", description="vLLM image (pin it; the seed used :latest).")
    vllm_gpus: int = Field(1, ge=1, description="GPUs reserved for vLLM.")
    qdrant_image: str = Field("qdrant/qdrant:v1.12.1", description="Qdrant image.")
    chroma_image: str = Field("chromadb/chroma:0.5.23", description="Chroma image.")
    postgres_image: str = Field("postgres:16-alpine", description="MLflow's PostgreSQL image.")
    minio_image: str = Field("minio/minio:RELEASE.2025-01-20T14-49-07Z", description="MinIO image.")
    minio_client_image: str = Field("minio/mc:RELEASE.2025-01-17T23-25-50Z", description="Creates the artifact bucket.")
    mlflow_image: str = Field("ghcr.io/mlflow/mlflow:v2.19.0", description="Base of the MLflow image (drivers added).")
    prometheus_image: str = Field("prom/prometheus:v2.55.1", description="Prometheus image.")
    alertmanager_image: str = Field("prom/alertmanager:v0.27.0", description="Alertmanager image.")
    grafana_image: str = Field("grafana/grafana:11.3.1", description="Grafana image.")
    node_exporter_image: str = Field("prom/node-exporter:v1.8.2", description="node-exporter image.")
    dcgm_exporter_image: str = Field("nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04",
                                     description="NVIDIA DCGM exporter image.")
    nginx_image: str = Field("nginx:1.27-alpine", description="nginx image.")
    aistack_image: str = Field("aistack:latest", description="The gateway's image (built from aistack.Dockerfile).")
    gateway_port: int = Field(8080, ge=1, le=65535, description="Host port of the gateway, with publish_gateway.")
    publish_gateway: bool = Field(
        False, description="Publish the gateway's own port too. Off: only nginx (HTTPS) is reachable from outside.")
