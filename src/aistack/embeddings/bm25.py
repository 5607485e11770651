"""BM25 as sparse vectors: term weights per chunk here, IDF applied by the store (Qdrant's IDF
modifier), so a query is just its terms with weight 1. Terms are hashed to stable u32 indices."""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

from aistack.vectorstore.base import SparseVector

K1, B = 1.2, 0.75
# Average chunk length in terms after stop words: a 1024-character chunk holds about 100.
AVERAGE_TERMS = 100.0
TERM = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
STOP_WORDS = frozenset(
    "a an and are as at be been but by can do does for from had has have how i if in into is it its "
    "of on or our so than that the their them then there these they this to was we were what when "
    "where which who why will with you your".split()
)


def terms(text: str) -> list[str]:
    return [t for t in TERM.findall(text.lower()) if t not in STOP_WORDS and len(t) > 1]


def _index(term: str) -> int:
    return zlib.crc32(term.encode())


def document_vector(text: str) -> SparseVector:
    counts = Counter(terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVERAGE_TERMS)
    weights: dict[int, float] = {}
    for term, tf in counts.items():
        weights[_index(term)] = weights.get(_index(term), 0.0) + tf * (K1 + 1) / (tf + norm)
    return SparseVector(list(weights), list(weights.values()))


def query_vector(text: str) -> SparseVector:
    indices = sorted({_index(t) for t in terms(text)})
    return SparseVector(indices, [1.0] * len(indices))


def rank(query: str, texts: list[str]) -> list[int]:
    """Indices of `texts` by BM25 score for `query`, best first, with IDF taken over `texts`
    (the candidate set), so it runs without any collection statistics."""
    query_terms = set(terms(query))
    docs = [Counter(terms(t)) for t in texts]
    n = len(docs)
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5))
           for t in query_terms if (df := sum(1 for d in docs if t in d))}
    scores = []
    for counts in docs:
        length = sum(counts.values())
        norm = K1 * (1 - B + B * length / AVERAGE_TERMS)
        scores.append(sum(idf[t] * counts[t] * (K1 + 1) / (counts[t] + norm) for t in idf if t in counts))
    return sorted(range(n), key=lambda i: scores[i], reverse=True)
