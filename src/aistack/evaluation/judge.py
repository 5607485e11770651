"""Faithfulness judged by an LLM, ragas-style: split the answer into claims, then check each claim
against the context. Any configured model can judge (the seed's "separate grading model").

Both steps ask for JSON constrained by a schema (a grammar on llama.cpp, guided decoding on vLLM),
with a fixed number of verdicts, so the output always parses and the score is a number. Local
judges returning NaN or unparseable text is the main complaint of ragas users (ragas #1681,
#1857)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aistack.evaluation.faithfulness import sentences
from aistack.llm.base import LLMBackend
from aistack.llm.protocol import ChatCompletionRequest
from aistack.settings.tracking import EvalSettings

CLAIM_CHARS = 200
CLAIMS_PROMPT = (
    "Split the answer below into short, self-contained factual claims. Copy the facts exactly; "
    "do not add anything.\n\nAnswer:\n{answer}"
)
VERDICTS_PROMPT = (
    "Context:\n{context}\n\nFor each numbered claim, say 'supported' if the context states it, "
    "otherwise 'unsupported'.\n\nClaims:\n{claims}"
)


@dataclass
class Verdict:
    score: float | None  # supported claims / claims; None only when there was nothing to judge
    claims: list[str] = field(default_factory=list)
    supported: list[bool] = field(default_factory=list)
    note: str | None = None


def claims_schema(max_claims: int) -> dict[str, Any]:
    return {"type": "object", "required": ["claims"], "properties": {"claims": {
        "type": "array", "minItems": 1, "maxItems": max_claims,
        "items": {"type": "string", "minLength": 1, "maxLength": CLAIM_CHARS}}}}


def verdicts_schema(count: int) -> dict[str, Any]:
    return {"type": "object", "required": ["verdicts"], "properties": {"verdicts": {
        "type": "array", "minItems": count, "maxItems": count,
        "items": {"type": "string", "enum": ["supported", "unsupported"]}}}}


class Judge:
    def __init__(self, llm: LLMBackend, model: str, settings: EvalSettings):
        self.llm = llm
        self.model = model
        self.settings = settings

    async def _ask(self, prompt: str, name: str, schema: dict[str, Any], max_tokens: int) -> dict[str, Any] | None:
        """The parsed JSON answer, or None when the judge's output did not parse (an upstream
        that ignores response_format, or max_tokens cut it)."""
        request = ChatCompletionRequest.model_validate({
            "model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
            "max_tokens": max_tokens, "seed": 0,
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}})
        result = await self.llm.chat(request)
        try:
            data = json.loads(result["choices"][0]["message"]["content"] or "")
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            return None
        return data if isinstance(data, dict) else None

    async def claims(self, answer: str) -> tuple[list[str], str | None]:
        limit = self.settings.judge_max_claims
        data = await self._ask(CLAIMS_PROMPT.format(answer=answer), "claims", claims_schema(limit),
                               max_tokens=limit * (CLAIM_CHARS // 3) + 32)
        found = list(dict.fromkeys(c.strip() for c in (data or {}).get("claims", [])
                                   if isinstance(c, str) and c.strip()))  # small judges repeat themselves
        if found:
            return found[:limit], None
        # the judge's claims did not parse: its sentences are the claims, and the note says so
        return sentences(answer)[:limit], "claims taken as the answer's sentences"

    async def faithfulness(self, answer: str, contexts: list[str]) -> Verdict:
        if not contexts or not sentences(answer):
            return Verdict(None, note="nothing to judge: no context or no answer")
        claims, note = await self.claims(answer)
        context = "\n\n".join(contexts)[: self.settings.judge_context_chars]
        numbered = "\n".join(f"{i}. {c}" for i, c in enumerate(claims, start=1))
        prompt = VERDICTS_PROMPT.format(context=context, claims=numbered)
        for _ in range(2):  # one retry, for an upstream without constrained decoding
            data = await self._ask(prompt, "verdicts", verdicts_schema(len(claims)), max_tokens=8 * len(claims) + 32)
            verdicts = (data or {}).get("verdicts")
            if isinstance(verdicts, list) and len(verdicts) == len(claims):
                supported = [v == "supported" for v in verdicts]
                return Verdict(sum(supported) / len(claims), claims, supported, note)
        return Verdict(None, claims, note="the judge's verdicts did not parse twice")
