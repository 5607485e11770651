"""OpenAI's Responses API on the wire: the request `POST /v1/responses` takes, and the response
object it answers (the streamed events carry the same objects).

A parameter aistack cannot honour is a 400 naming it (`param`), never ignored: unknown top-level
fields, built-in tools other than `file_search`, `background`, `truncation: auto`, and the rest
listed in REFUSED. Input items are messages, `function_call` and `function_call_output`. The
validators raise InvalidRequest itself (pydantic passes it through) so that `param` is exact."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, Tag, field_validator, model_validator

from aistack.errors import InvalidRequest
from aistack.wire import Open
from aistack.wire.openai import MAX_TOKENS

INPUT_TYPES = ("message", "function_call", "function_call_output")
TOOL_TYPES = ("function", "file_search")
INCLUDABLE = ("file_search_call.results",)
# OpenAI parameters aistack does not do, and why (the 400 says so)
REFUSED = {
    "background": "background responses are not supported: stream instead",
    "conversation": "conversations are not supported: chain responses with previous_response_id",
    "prompt": "stored prompt templates are not supported: send instructions",
    "top_logprobs": "log probabilities are not returned by the Responses API here",
    "reasoning": "the served models do not reason: leave reasoning unset",
    "context_management": "context management is not supported",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputText(Strict):
    type: Literal["input_text", "output_text"]
    text: str
    annotations: list[dict[str, Any]] | None = None  # an earlier answer's, sent back as input
    logprobs: list[dict[str, Any]] | None = None


class InputImage(Strict):
    type: Literal["input_image"]
    image_url: str | None = Field(None, description="An http(s) or data: URL (no file ids, no paths).")
    detail: Literal["low", "high", "auto"] = "auto"


Part = Annotated[InputText | InputImage, Field(discriminator="type")]


class MessageItem(Strict):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]
    id: str | None = None
    status: str | None = None


class FunctionCallItem(Strict):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(Strict):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str
    id: str | None = None
    status: str | None = None


def _unset(value: Any) -> bool:
    """null, false, or an object of nulls (`reasoning: {"effort": null}`): nothing asked for."""
    return value in (None, False) or (isinstance(value, dict) and all(v is None for v in value.values()))


def _item_type(value: Any) -> str:
    return value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", "message")


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")] | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")],
    Discriminator(_item_type),
]


class FunctionTool(Strict):
    type: Literal["function"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class RankingOptions(Strict):
    ranker: str | None = None
    score_threshold: float | None = Field(None, ge=0, le=1)


class FileSearchTool(Strict):
    """Searches one aistack collection: its name is the vector store id."""

    type: Literal["file_search"]
    vector_store_ids: list[str] = Field(min_length=1, max_length=1,
                                        description="One collection name (aistack searches one collection).")
    max_num_results: int | None = Field(None, ge=1, le=50)
    ranking_options: RankingOptions | None = None


ToolSpec = Annotated[FunctionTool | FileSearchTool, Field(discriminator="type")]


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    description: str | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_when_json_schema(self) -> TextFormat:
        if self.type == "json_schema" and (not self.name or self.schema_ is None):
            raise ValueError("text.format of type json_schema needs a name and a schema")
        return self


class TextOptions(Strict):
    format: TextFormat = Field(default_factory=TextFormat)
    verbosity: Literal["medium"] | None = Field(None, description="Only the default, medium.")


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] = "auto"
    parallel_tool_calls: bool | None = Field(None, description="Accepted; a response holds at most one call.")
    max_tool_calls: int | None = Field(None, ge=1)
    text: TextOptions | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    store: StrictBool = True
    stream: StrictBool = False
    stream_options: dict[str, Any] | None = None
    previous_response_id: str | None = Field(None, min_length=1, max_length=128)
    include: list[str] | None = None
    metadata: dict[str, str] | None = Field(None, max_length=16)
    truncation: Literal["disabled"] | None = Field(None, description="Only disabled: a long input is a 400.")
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: Literal["auto", "default"] | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _known_item_types(cls, value: Any) -> Any:
        if isinstance(value, list):
            for index, item in enumerate(value):
                kind = _item_type(item)
                if kind not in INPUT_TYPES:
                    raise InvalidRequest(f"input[{index}]: the item type '{kind}' is not supported; aistack takes "
                                         f"{', '.join(INPUT_TYPES)}", param=f"input[{index}].type")
        elif isinstance(value, str) and not value:
            raise InvalidRequest("input is empty", param="input")
        return value

    @field_validator("tools", mode="before")
    @classmethod
    def _known_tool_types(cls, value: Any) -> Any:
        for index, tool in enumerate(value if isinstance(value, list) else ()):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind not in TOOL_TYPES:
                raise InvalidRequest(f"tools[{index}]: the tool type '{kind}' is not supported; aistack offers "
                                     f"{' and '.join(TOOL_TYPES)}", param=f"tools[{index}].type")
        return value

    @field_validator("include")
    @classmethod
    def _known_includes(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(INCLUDABLE))
        if unknown:
            raise InvalidRequest(f"include {unknown} is not supported; aistack can include {', '.join(INCLUDABLE)}",
                                 param="include")
        return value

    @model_validator(mode="after")
    def _nothing_unsupported(self) -> ResponsesRequest:
        for name, value in (self.model_extra or {}).items():
            if name in REFUSED:
                if not _unset(value):
                    raise InvalidRequest(f"{name}: {REFUSED[name]}", param=name)
            else:
                raise InvalidRequest(f"'{name[:64]}' is not a Responses API parameter aistack supports",
                                     param=name[:64])
        if len([t for t in self.tools if t.type == "file_search"]) > 1:
            raise InvalidRequest("at most one file_search tool", param="tools")
        choice = self.tool_choice
        if isinstance(choice, dict):
            if choice.get("type") != "function" or not choice.get("name"):
                raise InvalidRequest("tool_choice must be none, auto, required or {type: function, name}",
                                     param="tool_choice")
            if choice["name"] not in self.function_names():
                raise InvalidRequest(f"tool_choice names '{choice['name']}', which is not among the function tools",
                                     param="tool_choice")
        return self

    def function_names(self) -> list[str]:
        return [t.name for t in self.tools if isinstance(t, FunctionTool)]

    def file_search(self) -> FileSearchTool | None:
        return next((t for t in self.tools if isinstance(t, FileSearchTool)), None)


class ResponseUsage(Open):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0})
    output_tokens_details: dict[str, int] = Field(default_factory=lambda: {"reasoning_tokens": 0})


class Response(Open):
    """The response object: `output` holds message, function_call and file_search_call items."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    model: str
    output: list[dict[str, Any]]
    usage: ResponseUsage | None = None
    previous_response_id: str | None = None


class ResponseDeleted(BaseModel):
    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: Literal[True] = True


class InputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False
