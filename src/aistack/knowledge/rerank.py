"""Reranking the retrieved chunks before they reach the prompt.

`late_interaction`: ColBERT-style MaxSim over the contextual token embeddings of the bundled
MiniLM (each query token takes its best-matching passage token; the mean is the score). It runs
offline on the same ONNX model, needs no second model, and costs one forward pass per candidate."""

from __future__ import annotations

import numpy as np

from aistack.embeddings import Embedder
from aistack.errors import InvalidRequest
from aistack.vectorstore import Hit


def late_interaction(embedder: Embedder, query: str, hits: list[Hit]) -> list[Hit]:
    token_embeddings = getattr(embedder, "token_embeddings", None)
    if token_embeddings is None:
        raise InvalidRequest(f"late_interaction reranking needs token embeddings, which the {embedder.name} "
                             "embedder does not give: use embeddings.backend onnx or rag.rerank none",
                             param="rerank")
    if not hits:
        return hits
    query_tokens, *passages = token_embeddings([query] + [h.text for h in hits])
    scores = [float((query_tokens @ p.T).max(axis=1).mean()) if len(p) else 0.0 for p in passages]
    order = np.argsort(scores, kind="stable")[::-1]
    return [hits[i] for i in order]
