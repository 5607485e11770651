"""OpenAI wire models for chat and completions requests.

Unknown top-level fields are accepted, so that newer SDKs keep working, and ignored: the gateway
logs their names (as vLLM's OpenAIBaseModel warns) and forwards to an upstream only the fields
OpenAI documents. So `best_of`, `ignore_eos` or `guided_json` cannot get past the `n` cap or
reach vLLM's engine through the gateway. Booleans are strict (`"yes"` is not true), `max_tokens`
has a ceiling, and an image may be given by http(s) or data URL only, never a file path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from aistack.wire.openai import MAX_TOKENS

# OpenAI fields aistack does not model but forwards to an OpenAI-compatible upstream
FORWARDED = frozenset({"logprobs", "top_logprobs", "logit_bias", "parallel_tool_calls", "suffix"})
IMAGE_SCHEMES = ("http://", "https://", "data:")


class Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(Wire):
    type: str
    text: str | None = None

    @model_validator(mode="after")
    def _images_by_url_only(self) -> ContentPart:
        if self.type == "image_url":
            image = (self.model_extra or {}).get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url.startswith(IMAGE_SCHEMES):
                raise ValueError("image_url.url must be an http(s) or data: URL (no file paths)")
        return self


class FunctionCall(Wire):
    name: str
    arguments: str  # JSON text, as OpenAI sends it


class ToolCall(Wire):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _tool_messages_name_their_call(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a message with role 'tool' needs the tool_call_id it answers")
        return self

    def text(self) -> str:
        """The message as plain text: string content, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(Wire):
    include_usage: StrictBool = False


class ResponseFormat(Wire):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


class SamplingParams(Wire):
    """What chat and completions requests share."""

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="Only one choice per request is supported.")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)

    def ignored(self) -> list[str]:
        """Top-level fields the client sent that aistack neither models nor forwards."""
        return sorted(name for name in self.model_extra or () if name not in FORWARDED)

    def wire(self) -> dict[str, Any]:
        """The request as an upstream should receive it: unset and ignored fields left out."""
        return self.model_dump(exclude_unset=True, exclude_none=True, exclude=set(self.ignored()))


class FunctionSpec(Wire):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(Wire):
    type: Literal["function"]
    function: FunctionSpec


class ChatCompletionRequest(SamplingParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _tool_choice_names_a_tool(self) -> ChatCompletionRequest:
        choice = self.tool_choice
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            if choice.get("type") != "function" or not name:
                raise ValueError("tool_choice must be none, auto, required or {type: function, function: {name}}")
            if name not in {t.function.name for t in self.tools or ()}:
                raise ValueError(f"tool_choice names '{name}', which is not among the tools")
        elif choice in ("auto", "required") and not self.tools:
            raise ValueError(f"tool_choice '{choice}' needs tools")
        return self

    def tool_mode(self) -> str | None:
        """none, auto, required or the one function's name; None when there are no tools."""
        if not self.tools or self.tool_choice == "none":
            return None
        if isinstance(self.tool_choice, dict):
            return self.tool_choice["function"]["name"]
        return self.tool_choice or "auto"

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingParams):
    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1, le=MAX_TOKENS)
    echo: StrictBool = False

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("exactly one prompt per request is supported")
        return value

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    @property
    def token_limit(self) -> int | None:
        return self.max_tokens
