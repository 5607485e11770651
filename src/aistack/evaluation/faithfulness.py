"""A faithfulness estimate that needs no LLM: the share of an answer's sentences whose content
words the retrieved context holds. CPU-only runs get a usable number from it; the LLM judge
(judge.py) is the stricter measure."""

from __future__ import annotations

import re

from aistack.embeddings.bm25 import terms

CITATION = re.compile(r"\s*\[(?:Sources?:)?[^\]]*\]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    """Sentences of an answer, citations removed, those without content words dropped."""
    plain = CITATION.sub("", text)
    return [" ".join(s.split()) for s in SENTENCE_END.split(plain) if terms(s)]


def sentence_support(sentence: str, context_terms: set[str]) -> float:
    words = set(terms(sentence))
    return len(words & context_terms) / len(words) if words else 0.0


def lexical_faithfulness(answer: str, contexts: list[str], threshold: float) -> float | None:
    """Share of the answer's sentences with at least `threshold` of their content words in the
    context. None when there is nothing to judge (no context, or no sentence)."""
    claims = sentences(answer)
    if not contexts or not claims:
        return None
    context_terms = set(terms(" ".join(contexts)))
    return sum(1 for s in claims if sentence_support(s, context_terms) >= threshold) / len(claims)
