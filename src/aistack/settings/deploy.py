"""Settings of the deployment layer: slots, blue-green switches, routing, rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr

from aistack.settings.section import Section


class RateLimitSettings(Section):
    """The gateway-wide default limit, and where every limit is counted (team and key quotas too)."""

    enabled: bool = Field(False, description="Limit requests per API key (per client address without keys).")
    requests_per_minute: float = Field(30, gt=0, description="Sustained rate, as the seed's limit_req zone (30r/m).")
    burst: int = Field(20, ge=1, description="Requests a quiet key may send at once (the seed's burst=20).")
    tokens_per_minute: int | None = Field(
        None, ge=1, description="LLM tokens (prompt + completion) per key and minute. Empty: no token limit.")
    backend: Literal["memory", "redis"] = Field(
        "memory", description="Where limits, quotas and budgets are counted. memory: this process only; redis: one "
        "count across gateway instances.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the shared limit.")
    key_prefix: str = Field("aistack:ratelimit:", description="Prefix of the Redis keys.")
    on_store_down: Literal["closed", "open"] = Field(
        "closed", description="When Redis cannot be reached: closed refuses requests (503), open admits them "
        "unlimited (and logs it).")


class SlotSettings(Section):
    url: str = Field(description="The slot's OpenAI-compatible base URL, with /v1.")
    model: str | None = Field(None, description="Model name sent upstream. Empty: the client's.")
    version: str | None = Field(None, description="A label for what runs in the slot (v2, llama-3.1-8b-q4...).")
    runtime: Literal["external", "process", "compose"] = Field(
        "external", description="external: aistack only routes; process: it runs `command`; compose: `compose_file`.")
    command: list[str] = Field(default_factory=list, description="process runtime: the command, as a list (no shell).")
    env: dict[str, str] = Field(default_factory=dict, description="process runtime: extra environment.")
    compose_file: Path | None = Field(None, description="compose runtime: the file `docker compose -f` gets.")

    def runtime_spec(self) -> dict[str, Any]:
        return {"command": self.command, "env": self.env,
                "compose_file": str(self.compose_file) if self.compose_file else None}


class SmokeTest(Section):
    prompt: str = Field(description="Sent to the candidate as a user message.")
    expect: str = Field(".", description="A regular expression the answer must match.")
    max_tokens: int = Field(16, ge=1, description="Tokens the answer may use.")


class NginxSettings(Section):
    enabled: bool = Field(False, description="Rewrite, check and reload nginx on every switch and weight change.")
    config_path: Path | None = Field(None, description="The conf.d file aistack owns (nginx includes it in http).")
    main_config: Path | None = Field(None, description="nginx's main file for -t and -s (empty: nginx's default).")
    binary: str = Field("nginx", description="The nginx executable.")
    listen: str = Field("443", description="What the server block listens on (the seed: 443 ssl).")
    server_name: str = Field("llm.internal.example.com", description="The seed's server_name.")
    tls_cert: Path | None = Field(Path("/etc/ssl/certs/llm.pem"), description="TLS certificate (empty: plain HTTP).")
    tls_key: Path | None = Field(Path("/etc/ssl/private/llm.key"), description="TLS key.")
    sticky: bool = Field(False, description="split_clients on the user header and API key instead of weighted round-robin.")
    sticky_header: str = Field("x-aistack-user", description="The header split_clients hashes with the API key.")


class DeploySettings(Section):
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    store_url: str | None = Field(
        None, description="Slot state: a postgresql:// URL shared by gateway instances. Empty: SQLite in <home>/deploy.")
    slots: dict[str, SlotSettings] = Field(
        default_factory=dict, description="Slots defined at start-up (blue, green...). The admin API adds more.")
    refresh_interval: float = Field(1.0, gt=0, description="Seconds between reads of the slot state.")
    store_timeout: float = Field(
        5.0, gt=0, description="Seconds one read of the slot state may take; past it the last good view serves.")
    sticky_header: str = Field("x-aistack-user", description="Header naming the user an A/B split sticks to.")
    failure_threshold: int = Field(3, ge=1, description="Failures in a row that take a slot out of rotation.")
    cooldown: float = Field(30.0, gt=0, description="Seconds a failing slot stays out of rotation.")
    health_timeout: float = Field(60.0, gt=0, description="Seconds a starting slot has to become healthy.")
    drain_grace: float = Field(30.0, ge=0, description="Seconds in-flight requests get on the old slot (the seed's 30).")
    smoke_tests: list[SmokeTest] = Field(
        default_factory=lambda: [SmokeTest(prompt="Reply with one word: ready.", expect=r"\S")],
        description="Prompts a candidate must answer, through the real API, before it gets traffic.")
    nginx: NginxSettings = Field(default_factory=NginxSettings)
    admin_keys: list[SecretStr] = Field(default_factory=list, description="Keys for /v1/admin (deploy, weights).")
    admin_keys_file: Path | None = Field(None, description="File with one admin key per line.")
