"""The embedded default: GGUF models on llama.cpp.

Two engines (`llm.llamacpp.engine`): llama.cpp's own llama-server, one supervised child process per
model that batches concurrent requests (aistack.llm.llama_server), or llama-cpp-python in process,
one request at a time per model. Either way the chat template comes from the GGUF metadata (or
`chat_template` in settings), and the prompt, the grammar and the token budget are made here, so
prompt and completion token counts are exact for streams too.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import llama_cpp
from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from aistack.errors import (
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
)
from aistack.llm.admission import SequenceAdmission
from aistack.llm.generating import GeneratingBackend, Generation, Run
from aistack.llm.llama_server import ENGINE_KEEP_ALIVE, LlamaServer, server_command
from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
)
from aistack.llm.queue import ModelQueue
from aistack.llm.responses import model_card
from aistack.llm.sampling import GrammarAfterLlama
from aistack.llm.server_generation import DEFAULT_TEMPERATURE, completion_body, generate_on_server
from aistack.llm.stops import StopMatcher
from aistack.llm.grammars import GrammarBuilder
from aistack.llm.tools import messages_for
from aistack.packaged import bundled_llm_gguf, llama_server_binary
from aistack.settings import Settings
from aistack.settings.model import LlamaCppModel
from aistack.llm.finetuned import served_models

log = logging.getLogger("aistack.llm.llamacpp")


@dataclass
class LoadedModel:
    name: str
    config: LlamaCppModel
    path: Path
    llama: Llama
    formatter: Jinja2ChatFormatter
    queue: ModelQueue  # in process: one request at a time
    server: LlamaServer | None = None  # llama-server: batched, admitted by `admission`
    admission: SequenceAdmission | None = None

    def tokenize(self, text: str) -> list[int]:
        bos = self.llama.token_bos()
        prefix = [bos] if self.llama._model.add_bos_token() and bos != -1 else []
        return prefix + self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def chat_prompt(self, request: ChatCompletionRequest) -> tuple[str, list[str]]:
        messages = messages_for(request)  # tools described, tool turns written as text
        try:
            formatted = self.formatter(messages=messages)
        except Exception as exc:  # a template may raise on roles it does not support
            raise InvalidRequest(f"the chat template of '{self.name}' rejected the messages: {exc}",
                                 param="messages") from None
        stops = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return formatted.prompt, stops


def model_file(name: str, config: LlamaCppModel) -> Path:
    path = Path(config.path or bundled_llm_gguf())
    if not path.is_file():
        raise BackendUnavailable(f"model '{name}': GGUF file {path} does not exist")
    if config.lora_path and not Path(config.lora_path).is_file():
        raise BackendUnavailable(f"model '{name}': LoRA adapter {config.lora_path} does not exist")
    return path


def load_model(name: str, config: LlamaCppModel, vocab_only: bool = False) -> LoadedModel:
    """The model in process, or with `vocab_only` its tokenizer and metadata alone (a
    llama-server generates)."""
    path = model_file(name, config)
    if vocab_only:
        llama = Llama(model_path=str(path), vocab_only=True, verbose=False)
    else:
        llama = GrammarAfterLlama(
            model_path=str(path),
            n_ctx=config.n_ctx,
            n_threads=config.threads(),
            n_threads_batch=config.threads(),
            n_batch=config.n_batch,
            n_gpu_layers=config.n_gpu_layers,
            lora_path=str(config.lora_path) if config.lora_path else None,
            lora_scale=config.lora_scale,
            verbose=False,
        )
    template = config.chat_template or llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise BackendUnavailable(
            f"model '{name}': the GGUF has no chat template; set llm.llamacpp.models.{name}.chat_template"
        )

    def token_text(token: int) -> str:
        return llama._model.token_get_text(token) if token != -1 else ""

    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llama.token_eos()),
        bos_token=token_text(llama.token_bos()),
        stop_token_ids=[llama.token_eos()],
    )
    return LoadedModel(name, config, path, llama, formatter, ModelQueue(name, config.max_queue))


def generate_text(
    model: LoadedModel,
    prompt_tokens: list[int],
    request: SamplingParams,
    stops: list[str],
    max_tokens: int,
    grammar: LlamaGrammar | None,
    stats: Generation,
) -> Iterator[str]:
    """Blocking token loop on the model's worker thread: yields text, fills `stats`.
    Closing the iterator (the client went away) stops generation after the current token."""
    llama = model.llama
    if request.seed is not None:
        llama.set_seed(request.seed)
    temperature = request.temperature if request.temperature is not None else DEFAULT_TEMPERATURE
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    matcher = StopMatcher(stops)
    tokens = llama.generate(
        prompt_tokens,
        temp=temperature,
        top_p=request.top_p if request.top_p is not None else 0.95,
        presence_penalty=request.presence_penalty or 0.0,
        frequency_penalty=request.frequency_penalty or 0.0,
        grammar=grammar,
    )
    stats.finish_reason = "length"
    try:
        for token in tokens:
            if llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                stats.finish_reason = "stop"
                break
            stats.completion_tokens += 1
            text = matcher.push(decoder.decode(llama.detokenize([token])))
            if text:
                yield text
            if matcher.stopped:
                stats.finish_reason = "stop"
                return
            if stats.completion_tokens >= max_tokens:
                break
    except GeneratorExit:
        stats.finish_reason = "cancelled"
        log.info("generation cancelled", extra={"fields": {
            "model": model.name, "completion_tokens": stats.completion_tokens}})
        raise
    finally:
        tokens.close()
    rest = matcher.push(decoder.decode(b"", final=True))
    rest += "" if matcher.stopped else matcher.flush()
    if rest:
        yield rest


class LlamaCppBackend(GeneratingBackend):
    name = "llamacpp"

    def __init__(self, catalogue: Callable[[], dict[str, LlamaCppModel]], server_binary: Path | None = None,
                 log_dir: Path | None = None, start_timeout: float = 120.0, health_interval: float = 10.0):
        """`catalogue` names the models served now: the configured ones and finished fine-tunes.
        With `server_binary`, each model runs in a llama-server of its own (its log under `log_dir`)."""
        self.catalogue = catalogue
        self.configs = catalogue()
        self.server_binary = server_binary
        self.log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        self.start_timeout = start_timeout
        self.health_interval = health_interval
        self._loaded: dict[str, LoadedModel] = {}
        self._load_lock = asyncio.Lock()
        self.grammars = GrammarBuilder()
        self._client: httpx.AsyncClient | None = None  # to the llama-servers, made on the loop

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppBackend:
        section = settings.llm.llamacpp
        binary = section.server_binary or llama_server_binary()
        if section.engine == "in_process" or (section.engine == "auto" and binary is None):
            binary = None
        elif binary is None:
            raise BackendUnavailable(
                "llm.llamacpp.engine is server but llama-server is not installed: run `make setup` (it builds "
                "llama.cpp with its server), set llm.llamacpp.server_binary, or set llm.llamacpp.engine: in_process")
        return cls(lambda: served_models(settings), binary, settings.home / "logs", section.server_start_timeout,
                   section.server_health_interval)

    @property
    def engine(self) -> str:
        return "server" if self.server_binary else "in_process"

    def preflight(self) -> None:
        """Fail before the server starts, with a plain message, when a GGUF file is missing."""
        for name, config in self.configs.items():
            model_file(name, config)

    async def start(self) -> None:
        for name, config in self.configs.items():
            if config.preload:
                await self._model(name)

    async def close(self) -> None:
        for model in self._loaded.values():
            if model.server:
                await model.server.close()
            model.queue.shutdown()
            model.llama.close()
        self._loaded.clear()
        if self._client:
            await self._client.aclose()
        await asyncio.to_thread(self.grammars.close)

    async def models(self) -> list[dict[str, Any]]:
        self.configs = await asyncio.to_thread(self.catalogue)  # a fine-tune finished since start-up is listed too
        return [model_card(name, "aistack-llamacpp") for name in self.configs]

    async def health(self) -> dict[str, Any]:
        for name, config in self.configs.items():
            if config.preload:
                await self._model(name)
        return {"backend": self.name, "engine": self.engine, "loaded": sorted(self._loaded)}

    def model_queues(self) -> dict[str, ModelQueue | SequenceAdmission]:
        """The wait queue of each loaded model (llm_queue_depth reads them at scrape time)."""
        return {name: model.admission or model.queue for name, model in self._loaded.items()}

    async def _model(self, name: str) -> LoadedModel:
        if name in self._loaded:
            return self._loaded[name]
        if name not in self.configs:
            self.configs = await asyncio.to_thread(self.catalogue)  # a fine-tune may have finished since
        if name not in self.configs:
            raise ModelNotFound(name, list(self.configs))
        async with self._load_lock:
            if name not in self._loaded:
                self._loaded[name] = await self._load(name, self.configs[name])
        return self._loaded[name]

    async def _load(self, name: str, config: LlamaCppModel) -> LoadedModel:
        model = await asyncio.to_thread(load_model, name, config, self.server_binary is not None)
        if self.server_binary is None:
            return model
        parallel = config.sequences()
        server = LlamaServer(name, server_command(self.server_binary, model.path, config),
                             self.log_dir / f"llama-server-{name}.log", self.start_timeout, self.health_interval)
        try:
            await server.start()
        except BaseException:
            await asyncio.to_thread(model.llama.close)
            raise
        if self._client is None:
            # llama-server closes a connection idle for 5 s, httpx's default expiry: a request sent on one
            # as it closed was lost. Ours expire first.
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=5.0), limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=64, keepalive_expiry=ENGINE_KEEP_ALIVE / 2))
        model.server = server
        model.admission = SequenceAdmission(name, parallel, config.n_ctx * parallel, config.max_queue)
        return model

    @asynccontextmanager
    async def _session(self, request: SamplingParams, chat: bool) -> AsyncIterator[Run]:
        model = await self._model(request.model)
        # the template, the tokeniser and the grammar are CPU work: a worker thread, never the loop
        prompt_tokens, template_stops, gbnf = await asyncio.to_thread(self._prepare, model, request, chat)
        max_tokens = self._token_budget(model, len(prompt_tokens), request.token_limit)
        stats = Generation(prompt_tokens=len(prompt_tokens))
        if model.server is not None and model.admission is not None:
            admission = model.admission
            body = completion_body(prompt_tokens, request, request.stop_list() + template_stops, max_tokens, gbnf)
            async with admission.admit(len(prompt_tokens) + max_tokens):
                assert self._client is not None
                pieces = generate_on_server(self._client, model.server, body, stats, admission.prompt_cached)
                async with aclosing(pieces):
                    yield Run(pieces, stats)
            return
        grammar = LlamaGrammar.from_string(gbnf, verbose=False) if gbnf else None
        async with model.queue.turn():
            pieces = model.queue.stream(
                lambda: generate_text(
                    model, prompt_tokens, request, request.stop_list() + template_stops,
                    max_tokens, grammar, stats,
                )
            )
            async with aclosing(pieces):
                yield Run(pieces, stats)

    def _prepare(self, model: LoadedModel, request: SamplingParams, chat: bool
                 ) -> tuple[list[int], list[str], str | None]:
        """The prompt's tokens, the template's stops and the grammar (reads the vocabulary only:
        safe beside the model's own worker)."""
        if chat:
            assert isinstance(request, ChatCompletionRequest)
            prompt, template_stops = model.chat_prompt(request)
        else:
            assert isinstance(request, CompletionRequest)
            prompt, template_stops = request.prompt_text(), []
        gbnf = self.grammars.build(str(model.path), request, lambda text: len(model.tokenize(text)))
        return model.tokenize(prompt), template_stops, gbnf

    @staticmethod
    def _token_budget(model: LoadedModel, prompt_tokens: int, limit: int | None) -> int:
        n_ctx = model.config.n_ctx
        if prompt_tokens >= n_ctx:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {n_ctx} tokens, but the prompt is "
                f"{prompt_tokens} tokens: {prompt_tokens - n_ctx + 1} over. Shorten the messages.",
                param="messages",
            )
        if limit is not None and prompt_tokens + limit > n_ctx:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {n_ctx} tokens. However, you requested "
                f"{prompt_tokens + limit} tokens ({prompt_tokens} in the prompt, {limit} for the "
                f"completion): {prompt_tokens + limit - n_ctx} over. Reduce the prompt or max_tokens.",
                param="max_tokens",
            )
        return limit if limit is not None else n_ctx - prompt_tokens
