"""Every LLM backend passes the seam's contract against a real model or a real peer:
- llamacpp on its default engine, llama-server (batching), and in process;
- openai -> a second aistack gateway (itself on llamacpp);
- openai -> llama-cpp-python's own server, a peer nobody here wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aistack.testing.llm import LLMContract
from support.servers import ServerProcess, start_llama_cpp_server

from aistack.llm.llamacpp import LlamaCppBackend
from aistack.llm.openai_compat import OpenAICompatBackend
from aistack.settings.model import LlamaCppModel, Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def llama_cpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from aistack.packaged import bundled_llm_gguf

    server = start_llama_cpp_server(str(bundled_llm_gguf()), tmp_path_factory.mktemp("peer"))
    yield server
    server.stop()


def upstream(url: str) -> OpenAICompatBackend:
    settings = Settings()
    settings.llm.openai.base_url = url + "/v1"
    return OpenAICompatBackend.from_settings(settings)


class TestLlamaCpp(LLMContract):
    engine = "server"

    @pytest.fixture
    def model(self) -> str:
        return "smollm2-135m-instruct"

    @pytest.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[LlamaCppBackend]:
        settings = Settings(home=tmp_path)
        settings.llm.llamacpp.engine = self.engine
        settings.llm.llamacpp.models = {"smollm2-135m-instruct": LlamaCppModel(n_ctx=512, parallel=2)}
        backend = LlamaCppBackend.from_settings(settings)
        assert backend.engine == self.engine
        await backend.start()
        yield backend
        await backend.close()


class TestLlamaCppInProcess(TestLlamaCpp):
    engine = "in_process"


class TestOpenAIToAistackGateway(LLMContract):
    @pytest.fixture
    def model(self) -> str:
        return "smollm2-135m-instruct"

    @pytest.fixture
    async def backend(self, embedded_gateway: ServerProcess) -> AsyncIterator[OpenAICompatBackend]:
        backend = upstream(embedded_gateway.url)
        await backend.start()
        yield backend
        await backend.close()


class TestOpenAIToLlamaCppServer(LLMContract):
    checks_model_names = False  # llama_cpp.server answers any model name with its one model
    streams_usage = False  # and ignores stream_options.include_usage

    @pytest.fixture
    def model(self) -> str:
        return "smollm2-upstream"

    @pytest.fixture
    async def backend(self, llama_cpp_server: ServerProcess) -> AsyncIterator[OpenAICompatBackend]:
        backend = upstream(llama_cpp_server.url)
        await backend.start()
        yield backend
        await backend.close()


def test_missing_gguf_is_a_clear_error(tmp_path: Path) -> None:
    import asyncio

    from aistack.errors import BackendUnavailable

    settings = Settings()
    settings.llm.llamacpp.models = {"m": LlamaCppModel(path=tmp_path / "absent.gguf")}
    with pytest.raises(BackendUnavailable, match="absent.gguf does not exist"):
        asyncio.run(LlamaCppBackend.from_settings(settings).start())
