"""BM25 over a set of candidate passages, the keyword half of hybrid retrieval."""

from __future__ import annotations

import math
import re
from collections import Counter

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
