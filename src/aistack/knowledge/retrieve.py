"""Retrieval: dense (cosine, with the collection's score threshold) or hybrid (BM25 over the dense
candidates, fused by reciprocal rank), with metadata filters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aistack.embeddings import Embedder, bm25
from aistack.errors import InvalidRequest
from aistack.knowledge import collections
from aistack.knowledge.rerank import late_interaction
from aistack.settings import Settings
from aistack.vectorstore import Hit, VectorStore
from aistack.wire.knowledge import RetrievalOptions

if TYPE_CHECKING:
    from aistack.metrics import Metrics

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al.), as Qdrant uses


@dataclass
class Retrieval:
    collection: str
    query: str
    hits: list[Hit]
    top_k: int
    score_threshold: float
    retrieval: str
    milliseconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def source_of(hit: Hit) -> dict[str, Any]:
    p = hit.payload
    return {"filename": p.get("filename"), "source": p.get("source"), "page": p.get("page"),
            "headings": p.get("headings"), "chunk_index": p.get("chunk_index"), "chunk_id": hit.id,
            "score": round(hit.score, 4)}


def fuse(rankings: list[list[Hit]], limit: int) -> list[Hit]:
    """Reciprocal rank fusion: score = sum of 1 / (RRF_K + rank) over the rankings."""
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (RRF_K + rank)
            hits.setdefault(hit.id, hit)
    best = sorted(scores, key=lambda id_: scores[id_], reverse=True)[:limit]
    return [Hit(id_, scores[id_], hits[id_].text, hits[id_].payload) for id_ in best]


def check_filter(where: dict[str, Any] | None) -> dict[str, Any] | None:
    for key, value in (where or {}).items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise InvalidRequest(f"filter.{key}: use a string, number or boolean, or a list of them",
                                 param=f"filter.{key}")
    return where


class Retriever:
    def __init__(self, settings: Settings, embedder: Embedder, store: VectorStore,
                 metrics: Metrics | None = None):
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.metrics = metrics

    def retrieve(self, query: str, options: RetrievalOptions | None = None, label: str | None = None) -> Retrieval:
        """Dense hits above the threshold and within `score_margin` of the best one, optionally
        reordered by BM25 fusion (hybrid) and by the reranker; scores stay cosine similarities.
        `options.collection` is the store's name; `label`, the caller's name for it."""
        options = options or RetrievalOptions()
        if not query.strip():
            raise InvalidRequest("The query is empty.", param="query")
        where = check_filter(options.filter)
        started = time.perf_counter()
        rag = self.settings.rag
        name = collections.check_stored_name(options.collection or rag.default_collection)
        config = collections.retrieval_config(self.settings, self.store.describe(name))
        top_k = options.top_k or config.top_k
        threshold = config.score_threshold if options.score_threshold is None else options.score_threshold
        margin = rag.score_margin if options.score_margin is None else options.score_margin
        mode = options.retrieval or config.retrieval
        rerank = options.rerank or rag.rerank
        wide = max(top_k, rag.candidates) if mode == "hybrid" or rerank != "none" else top_k
        hits = self.store.search(name, self.embedder.embed_query(query), wide, threshold, where)
        best = hits[0].score if hits else 0.0
        if mode == "hybrid" and len(hits) > 1:
            # BM25 over the dense candidates reorders them by reciprocal rank fusion; keywords
            # alone never make a passage relevant, so nothing below the threshold gets in.
            by_id = {h.id: h for h in hits}
            keyword = [hits[i] for i in bm25.rank(query, [h.text for h in hits])]
            hits = [by_id[h.id] for h in fuse([hits, keyword], len(hits))]
        hits = [h for h in hits if h.score >= best - margin]
        if rerank == "late_interaction":
            hits = late_interaction(self.embedder, query, hits[: rag.rerank_candidates]) + hits[rag.rerank_candidates :]
        seconds = time.perf_counter() - started
        if self.metrics:
            self.metrics.rag_retrieval.labels(collection=name, mode=mode).observe(seconds)
        return Retrieval(label or name, query, hits[:top_k], top_k, threshold, mode,
                         seconds * 1000, {"score_margin": margin, "rerank": rerank})
