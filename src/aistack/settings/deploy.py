"""Settings of the deployment layer: per-key rate limits (slots, blue-green and A/B come next)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aistack.settings.section import Section


class RateLimitSettings(Section):
    enabled: bool = Field(False, description="Limit requests per API key (per client address without keys).")
    requests_per_minute: float = Field(30, gt=0, description="Sustained rate, as the seed's limit_req zone (30r/m).")
    burst: int = Field(20, ge=1, description="Requests a quiet key may send at once (the seed's burst=20).")
    backend: Literal["memory", "redis"] = Field(
        "memory", description="memory: this process only; redis: one limit across gateway instances.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the shared limit.")
    key_prefix: str = Field("aistack:ratelimit:", description="Prefix of the Redis keys.")


class DeploySettings(Section):
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
