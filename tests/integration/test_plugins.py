"""An installed package extends aistack through the one plugin registry (aistack/plugins.py): a
distribution on the path names its module in the `aistack.plugins` entry-point group, and that
module adds an LLM backend a gateway serves by name, a command, and an agent tool. A plugin that
fails to import is named, and aistack still runs."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import httpx
import pytest
from support.servers import BIN, start_gateway

pytestmark = pytest.mark.integration

PLUGIN = '''
import typer

from aistack import plugins
from aistack.agents.tools import tool

plugins.backend("llm", "shout", "acme_aistack.llm:ShoutBackend")
commands = typer.Typer(help="Acme's commands.")


@commands.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}, from acme")


plugins.command("acme", commands)


@tool
def acme_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"
'''

BACKEND = '''
from aistack.llm.fake import FakeBackend
from aistack.settings.model import FakeLLMSettings


class ShoutBackend(FakeBackend):
    name = "shout"

    @classmethod
    def from_settings(cls, settings):
        return cls(FakeLLMSettings(reply="ACME SAYS HELLO", models=["acme-1"]))
'''


def install(site: Path, name: str, module: str, files: dict[str, str]) -> None:
    """A distribution as pip leaves it: the package, and a dist-info with its entry point."""
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(textwrap.dedent(text))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[aistack.plugins]\n{name} = {module}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install(site, "acme", "acme_aistack", {"acme_aistack/__init__.py": PLUGIN, "acme_aistack/llm.py": BACKEND})
    install(site, "broken", "broken_aistack", {"broken_aistack/__init__.py": "raise RuntimeError('no licence')\n"})
    return site


def aistack(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "AISTACK_PROFILES": "test", "COLUMNS": "200"}
    return subprocess.run([str(BIN / "aistack"), *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_plugin_adds_a_command_and_a_broken_one_is_named(site: Path) -> None:
    hello = aistack(site, "acme", "hello", "--name", "ops")
    assert hello.returncode == 0 and hello.stdout.strip() == "hello ops, from acme", hello.stderr
    listed = aistack(site, "plugins", "--json")
    found = json.loads(listed.stdout)
    assert found["loaded"] == {"acme": "acme_aistack"} and found["backends"]["llm"] == ["shout"]
    assert found["commands"] == ["acme"] and "no licence" in found["failed"]["broken"]
    unknown = aistack(site, "config", "show", "--json")
    assert unknown.returncode == 0  # a broken plugin stops nothing


def test_a_gateway_serves_a_plugins_backend_by_name(site: Path, tmp_path: Path) -> None:
    env = {"AISTACK_LLM__BACKEND": "shout", "PYTHONPATH": str(site)}
    with start_gateway(env, tmp_path) as gateway:
        models = httpx.get(gateway.url + "/v1/models", timeout=10).json()["data"]
        answer = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                            json={"model": "acme-1", "messages": [{"role": "user", "content": "hi"}]}).json()
    assert [m["id"] for m in models] == ["acme-1"]
    assert answer["choices"][0]["message"]["content"] == "ACME SAYS HELLO"


def test_a_plugins_tool_is_an_agent_tool_and_an_unknown_backend_says_what_is_known(site: Path) -> None:
    code = ("from aistack.agents.tools import registered; from aistack.settings import load_settings; "
            "print(sorted(registered(load_settings())))")
    listed = subprocess.run([str(BIN / "python"), "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(site), "AISTACK_PROFILES": "test"})
    assert "acme_weather" in listed.stdout, listed.stderr
    typo = subprocess.run([str(BIN / "aistack"), "config", "show"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(site), "AISTACK_PROFILES": "test",
                               "AISTACK_LLM__BACKEND": "shuot"})
    assert typo.returncode == 2 and "llm.backend" in typo.stderr and "shout" in typo.stderr, typo.stderr
