from __future__ import annotations

import builtins

import pytest

from aistack.llm.registry import MissingDependency, UnknownBackend, create_llm
from aistack.settings.model import Settings

pytestmark = pytest.mark.unit


def test_names_resolve_to_backends() -> None:
    assert create_llm(Settings(), "fake").name == "fake"
    assert create_llm(Settings(), "openai").name == "openai"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownBackend) as raised:
        create_llm(Settings(), "nope")
    assert str(raised.value) == "unknown LLM backend 'nope'; known: fake, llamacpp, openai"


def test_missing_optional_dependency_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    real_import = builtins.__import__

    def no_llama(name: str, *args, **kwargs):
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "aistack.llm.llamacpp", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(MissingDependency, match=r"needs llama_cpp.*pip install 'aistack\[embedded\]'"):
        create_llm(Settings(), "llamacpp")
