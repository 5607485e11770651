"""The HTTP API's request and response models, below every feature (any layer may use them).
Routers parse bodies into the request models and declare the response models, so /openapi.json
describes every request and answer; a test checks the answers against them (tests/unit/wire/test_wire.py).

The OpenAI chat and completions requests live with the LLM seam (llm/protocol.py), which forwards
them upstream."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Answer(BaseModel):
    """A response body: exactly these fields (the test holds the routes to it)."""

    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """A response body that may carry more than its named fields (an upstream's own, OpenAI's newer)."""

    model_config = ConfigDict(extra="allow")


class ListOf(Answer, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]


class Deleted(Answer):
    object: str
    deleted: Literal[True] = True
