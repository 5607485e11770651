from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import ServerProcess, start_gateway


@pytest.fixture(scope="session")
def embedded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`aistack serve` on the embedded SmolLM2 model, shared by the integration tests."""
    server = start_gateway({}, tmp_path_factory.mktemp("embedded"), "embedded")
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def model_path() -> str:
    from aistack.packaged import bundled_llm_gguf

    return str(bundled_llm_gguf())


@pytest.fixture
def settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty settings folder, and no AISTACK_* variables from the caller's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("AISTACK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AISTACK_SETTINGS_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def finetune_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded SmolLM2 GGUF converted to a Hugging Face folder, once per session."""
    from aistack.packaged import bundled_llm_gguf
    from aistack.training.base import convert_gguf

    folder = tmp_path_factory.mktemp("finetune-base") / "smollm2"
    convert_gguf(bundled_llm_gguf(), folder)
    return folder
