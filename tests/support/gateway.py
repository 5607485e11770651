"""The gateway in process on the fake backend (ASGI transport, no socket), for control-flow tests."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aistack.container import Container
from aistack.gateway.app import create_app
from aistack.settings.model import FakeLLMSettings, LLMSettings, ServerSettings, Settings

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hello there"}]}


def make_settings(**server: Any) -> Settings:
    fake = FakeLLMSettings(reply="one two three", delay=0.0, max_queue=1)
    # the gateway opens its vector store at start-up: give each app a throwaway home
    server = {"gc_threshold": None, **server}  # an app in this process leaves the test process's collector alone
    return Settings(home=Path(tempfile.mkdtemp(prefix="aistack-unit-")), server=ServerSettings(**server),
                    llm=LLMSettings(backend="fake", fake=fake))


async def client_for(settings: Settings) -> tuple[httpx.AsyncClient, Container]:
    container = Container(settings)
    await container.start()
    app = create_app(container)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t"), container


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text as {(name, labels): value}."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)
