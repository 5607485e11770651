"""The llama-server command line a model's settings give, and the defaults chosen from the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistack.llm.llama_server import server_command
from aistack.settings.model import LlamaCppModel

pytestmark = pytest.mark.unit


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_sequences_share_one_cache_of_n_ctx_each_on_loopback() -> None:
    config = LlamaCppModel(n_ctx=1024, parallel=4, n_threads=2, n_batch=128)
    command = server_command(Path("/bin/llama-server"), Path("/m.gguf"), config)
    assert flag(command, "--ctx-size") == "4096" and flag(command, "--parallel") == "4"
    assert "--kv-unified" in command and flag(command, "--host") == "127.0.0.1"
    assert flag(command, "--threads") == "2" and flag(command, "--batch-size") == "128"
    assert "--port" not in command and "--api-key" not in command  # a port per start; the key in the environment
    assert "--lora-scaled" not in command


def test_a_lora_adapter_goes_with_its_scale() -> None:
    config = LlamaCppModel(lora_path=Path("/a.gguf"), lora_scale=0.5)
    command = server_command(Path("/bin/llama-server"), Path("/m.gguf"), config)
    assert flag(command, "--lora-scaled") == "/a.gguf:0.5"


@pytest.mark.parametrize(("cores", "n_ctx", "sequences", "threads"), [
    (1, 2048, 8, 1), (2, 2048, 16, 2), (2, 8192, 4, 2), (32, 2048, 16, 8), (2, 65536, 1, 2)])
def test_defaults_follow_the_cores_and_the_context(monkeypatch: pytest.MonkeyPatch, cores: int, n_ctx: int,
                                                   sequences: int, threads: int) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    config = LlamaCppModel(n_ctx=n_ctx)
    assert (config.sequences(), config.threads()) == (sequences, threads)


def test_an_empty_thread_count_from_yaml_means_the_default() -> None:
    assert LlamaCppModel.model_validate({"n_threads": ""}).n_threads is None
