"""OpenAI's response shapes that aistack serves: models, embeddings, chat and text completions
(the upstream's fields pass through, so these are open)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aistack.wire import Answer, ListOf, Open

MAX_TOKENS = 1_048_576  # above any model's context: larger is a 400, never forwarded


class Model(Open):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(ListOf[Model]):
    pass


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    input: str | list[str] | list[int] | list[list[int]]
    model: str = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


class Embedding(Answer):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32 when asked.")


class EmbeddingUsage(Answer):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(ListOf[Embedding]):
    model: str
    usage: EmbeddingUsage


class Usage(Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Choice(Open):
    index: int
    finish_reason: str | None = None


class ChatChoice(Choice):
    message: dict[str, Any] = Field(description="The assistant's message: role, content, tool_calls.")


class ChatCompletion(Open):
    """With the `rag` extension, also `sources` (the cited chunks) and `rag` (how they were found)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None


class TextChoice(Choice):
    text: str


class Completion(Open):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextChoice]
    usage: Usage | None = None
