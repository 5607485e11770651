"""Composition root: Settings -> backends -> services. Tests override one binding by keyword.

Bindings are built on first use, so a command that only chats never loads the embedder, and one
that only lists collections never loads the LLM."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aistack.errors import BackendUnavailable
from aistack.portal import Portal
from aistack.settings import Settings

log = logging.getLogger("aistack")

if TYPE_CHECKING:
    from aistack.access.ledger import Ledger
    from aistack.access.quotas import Quotas
    from aistack.access.service import AccessService
    from aistack.agents.service import AgentService
    from aistack.chat.embeddings import EmbeddingService
    from aistack.chat.service import ChatService
    from aistack.deploy.bluegreen import Deployer
    from aistack.deploy.view import SlotView
    from aistack.embeddings import Embedder
    from aistack.knowledge.service import KnowledgeService
    from aistack.llm import LLMBackend
    from aistack.llm.routing import SlotRouter
    from aistack.metrics import Metrics
    from aistack.responses.service import ResponsesService
    from aistack.snapshots.service import SnapshotService
    from aistack.tracking.pipelines import PipelineResolver
    from aistack.vectorstore import VectorStore


class Container:
    def __init__(self, settings: Settings, **overrides: Any):
        self.settings = settings
        self._bindings: dict[str, Any] = dict(overrides)
        self.portal: Portal | None = None  # onto the loop the LLM backend runs on

    def _get(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self._bindings:
            self._bindings[name] = build()
        return self._bindings[name]

    @property
    def metrics(self) -> Metrics:
        from aistack.metrics import Metrics

        def build() -> Metrics:
            metrics = Metrics()
            if self.settings.observability.gpu:
                metrics.watch_gpus()
            return metrics

        return self._get("metrics", build)

    @property
    def llm(self) -> LLMBackend:
        """The configured backend behind the instrumentation every model goes through."""
        from aistack.llm import create_llm
        from aistack.llm.instrumented import InstrumentedLLM

        def build() -> InstrumentedLLM:
            backend = self.slot_router if self.settings.llm.backend == "slots" else create_llm(self.settings)
            return InstrumentedLLM(backend, self.metrics)

        return self._get("llm", build)

    @property
    def slot_view(self) -> SlotView:
        """The deployment's slot table, as the router reads it (refreshed off the loop)."""
        from aistack.deploy.slots import SlotStore, store_location
        from aistack.deploy.view import SlotView

        config = self.settings.deploy
        return self._get("slot_view", lambda: SlotView(
            SlotStore(store_location(self.settings), config.store_timeout), config))

    @property
    def slot_router(self) -> SlotRouter:
        """`llm.backend: slots`: each request goes to one of the serving slots."""
        from aistack.llm.routing import SlotRouter

        config = self.settings.deploy
        return self._get("slot_router", lambda: SlotRouter(
            self.slot_view, self.settings.llm.openai, config.failure_threshold, config.cooldown))

    @property
    def access(self) -> AccessService:
        """Who a token is, and the admin's teams, users and keys (the access store is read on first need)."""
        from aistack.access.service import AccessService
        from aistack.access.store import AccessStore

        def build() -> AccessService:
            from aistack.access.oidc import OidcVerifier

            settings = self.settings
            location = settings.access.store_url or str(settings.home / "access" / "access.db")
            oidc = OidcVerifier(settings.access.oidc) if settings.access.oidc.issuer else None
            return AccessService(AccessStore(location, settings.access.store_timeout),
                                 [k.get_secret_value() for k in settings.server.api_keys],
                                 [k.get_secret_value() for k in settings.deploy.admin_keys],
                                 settings.server.auth, settings.access.cache_seconds,
                                 collection_exists=self._collection_exists, oidc=oidc)

        return self._get("access", build)

    @property
    def embedder(self) -> Embedder:
        from aistack.embeddings import create_embedder

        return self._get("embedder", lambda: create_embedder(self.settings))

    def _collection_exists(self, stored: str) -> bool:
        from aistack.errors import NotFound

        try:
            self.store.describe(stored)
        except NotFound:
            return False
        return True

    @property
    def quotas(self) -> Quotas:
        """Every caller's limits, counted in this process or in Redis (deploy.rate_limit.backend)."""
        from aistack.access.buckets import create_buckets
        from aistack.access.quotas import Quotas

        limits = self.settings.deploy.rate_limit
        return self._get("quotas", lambda: Quotas(create_buckets(limits), limits))

    @property
    def ledger(self) -> Ledger:
        """The usage ledger, in the access store: queued per request, written in batches off the loop."""
        from aistack.access.ledger import Ledger

        config = self.settings.access
        return self._get("ledger", lambda: Ledger(self.access.store, config.usage_flush_seconds,
                                                   retention_days=config.usage_retention_days,
                                                   rollup_retention_days=config.rollup_retention_days,
                                                   metrics=self.metrics))

    @property
    def embeddings(self) -> EmbeddingService:
        from aistack.chat.embeddings import EmbeddingService

        return self._get("embeddings", lambda: EmbeddingService(self.embedder, self.settings.embeddings))

    @property
    def store(self) -> VectorStore:
        from aistack.vectorstore import create_store

        return self._get("store", lambda: create_store(self.settings))

    @property
    def chat(self) -> ChatService:
        """Chat and completions: plain, with the `rag` extension, or a registered pipeline."""
        from aistack.chat.service import ChatService

        return self._get("chat", lambda: ChatService(self.llm, lambda: self.knowledge, self.pipelines))

    @property
    def responses(self) -> ResponsesService:
        """The Responses API over chat; its store (responses.store_url) is opened on first need."""
        from aistack.responses.service import ResponsesService
        from aistack.responses.store import ResponseStore

        config = self.settings.responses
        location = config.store_url or str(self.settings.home / "responses" / "responses.db")
        return self._get("responses", lambda: ResponsesService(self.chat, lambda: self._get(
            "response_store", lambda: ResponseStore(location, config.store_timeout, config.retention_days))))

    @property
    def knowledge(self) -> KnowledgeService:
        """Collections, ingest, retrieval and the RAG pipeline; the embedder and the LLM load on
        first need."""
        from aistack.knowledge.service import KnowledgeService

        return self._get("knowledge", lambda: KnowledgeService(
            self.settings, self.store, lambda: self.embedder, lambda: self.llm, self.default_model(), self.metrics,
            shares=lambda: self.access.shares()))

    @property
    def pipelines(self) -> PipelineResolver:
        from aistack.tracking.pipelines import PipelineResolver

        return self._get("pipelines", lambda: PipelineResolver(self.settings))

    @property
    def deployer(self) -> Deployer:
        """Blue-green and canary deployment over the slot router (llm.backend: slots)."""
        from aistack.deploy.bluegreen import Deployer
        from aistack.deploy.runtimes import Runtimes

        def build() -> Deployer:
            view = self.slot_view
            return Deployer(view, self.slot_router, Runtimes(self.settings.home, view.store), self.settings.deploy)

        return self._get("deployer", build)

    @property
    def snapshots(self) -> SnapshotService:
        from aistack.snapshots.service import SnapshotService

        return self._get("snapshots", lambda: SnapshotService(self.settings, self.store))

    @property
    def agents(self) -> AgentService:
        """Agent runs. Their graphs run in worker threads and reach the LLM through `self.portal`."""
        from aistack.agents.service import AgentService

        def run(coro: Any) -> Any:
            if self.portal is None:
                raise RuntimeError("the LLM backend has not been started")
            return self.portal.call(coro)

        return self._get("agents", lambda: AgentService(
            self.settings, lambda: self.llm, run, default_model=self.default_model(),
            search=lambda query, collection, top_k: self.knowledge.passages(query, collection, top_k),
            metrics=self.metrics))

    async def start_llm(self) -> None:
        if self.portal is None:
            self.portal = Portal(asyncio.get_running_loop())
        await self.llm.start()

    async def start(self) -> None:
        """What the gateway opens before it serves: the LLM, the vector store (which takes the
        embedded Qdrant's folder lock) and the embedder."""
        await self.start_llm()
        if self.settings.llm.backend == "slots":
            try:
                await self.deployer.reconcile()  # slots a crashed gateway left behind
            except Exception as exc:  # the store is down: the view serves what it last read
                log.warning("slot recovery skipped: %s", type(exc).__name__)
        _ = self.embedder  # load the model now, not on the first request
        try:
            _ = self.store
        except BackendUnavailable as exc:  # a store server that is down: /ready says so, chat works
            log.warning("vector store unavailable at start-up: %s", exc.message)

    async def close(self) -> None:
        if "deployer" in self._bindings:  # processes this gateway started stop with it
            self._bindings["deployer"].shutdown()
        if "agents" in self._bindings:
            self._bindings["agents"].close()
        if "llm" in self._bindings:
            await self._bindings["llm"].close()
        if "quotas" in self._bindings:
            await self._bindings["quotas"].close()
        if "ledger" in self._bindings:
            await self._bindings["ledger"].close()
        if "access" in self._bindings:
            self._bindings["access"].close()
        for name in ("embedder", "store"):
            if name in self._bindings:
                self._bindings[name].close()
        if "knowledge" in self._bindings:
            from aistack.knowledge.loaders import close_pdf_helpers

            close_pdf_helpers()

    def default_model(self) -> str | None:
        """The model the CLI uses when none is given: the configured default, else the first."""
        llm = self.settings.llm
        if llm.default_model:
            return llm.default_model
        if llm.backend == "llamacpp":
            return next(iter(llm.llamacpp.models), None)
        if llm.backend == "fake":
            return next(iter(llm.fake.models), None)
        return None
