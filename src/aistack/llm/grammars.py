"""Grammars for constrained decoding on llama.cpp, built where a bad one cannot hurt.

llama.cpp's grammar parser refuses a repetition that expands past 2,000 rules, and
`llama_sampler_init_grammar` then returns NULL, which llama-cpp-python adds to the sampler chain
as it is: the first token dereferences it and the whole process dies (SIGSEGV). A JSON schema's
`maxLength` of 1,200 was enough. So a request's grammar is

1. checked in the schema itself: repetition bounds past `MAX_REPEAT` and remote `$ref`s are a
   400 naming the field;
2. converted to GBNF and parsed by llama.cpp in a helper process (aistack.llm.grammar_helper):
   a grammar llama.cpp refuses, a conversion that fails, or a crash of the helper is a 400, and
   the gateway stays up;
3. cached by its source, good or bad, so each schema is built once.

All of it blocks: call `GrammarBuilder.build` from a worker thread, never on the event loop.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from aistack.errors import InvalidRequest
from aistack.helpers import HelperProcess
from aistack.llm.protocol import ChatCompletionRequest, SamplingParams
from aistack.llm.tools import call_schema, grammar_tools

log = logging.getLogger("aistack.llm.grammars")

# The largest repetition bound a schema may ask for. llama.cpp expands `x{0,n}` into n nested
# rules and gives up past 2,000 rules in one repetition; the schema converter's own nesting
# doubles that for a string's characters, so 1,000 is the largest bound that always builds.
MAX_REPEAT = 1000
REPEAT_KEYS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
PATTERN_BOUND = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")
# A character of a tool call's strings: any but a quote, a backslash or a control character (raw, a
# newline breaks the JSON), or a short escape. No \uXXXX: six characters where the raw one will do,
# and the token budget (aistack.llm.call_budget) counts a character as at most one token.
CALL_CHAR = r'char ::= [^"\\\x00-\x1F] | "\\" ["\\/bfnrt]'
HELPER_TIMEOUT = 15.0  # seconds for one conversion and parse
CACHE_SIZE = 256


@dataclass(frozen=True)
class GrammarSource:
    """What a grammar is built from: a JSON schema, the tool-call schema, or plain GBNF."""

    kind: str  # "schema", "tools" (a call, or with `auto` also plain text) or "gbnf"
    text: str
    param: str  # the request field it comes from
    auto: bool = False


def source_for(request: SamplingParams, count_tokens: Callable[[str], int] | None = None) -> GrammarSource | None:
    """The grammar a request asks for, its schemas checked for bounds; None for free text.
    `count_tokens` (the model's tokenizer) lets a tool call's strings be bounded to fit max_tokens."""
    if isinstance(request, ChatCompletionRequest) and request.tool_mode() is not None:
        for index, tool in grammar_tools(request):  # tool calls win over response_format
            check_schema(tool.function.parameters, f"tools[{index}].function.parameters")
        return GrammarSource("tools", json.dumps(call_schema(request, count_tokens)), "tools",
                             request.tool_mode() == "auto")
    fmt = getattr(request, "response_format", None)
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        from llama_cpp.llama_grammar import JSON_GBNF

        return GrammarSource("gbnf", JSON_GBNF, "response_format")
    schema = (fmt.json_schema or {}).get("schema")
    if not isinstance(schema, dict):
        raise InvalidRequest("response_format json_schema needs json_schema.schema", param="response_format")
    check_schema(schema, "response_format.json_schema.schema")
    return GrammarSource("schema", json.dumps(schema), "response_format")


def check_schema(schema: Any, path: str) -> None:
    """400 naming the field for what no grammar here can enforce: bounds past MAX_REPEAT, a
    pattern quantifier past it, or a `$ref` outside the schema."""
    for where, key, value in _walk(schema, path):
        if key in REPEAT_KEYS and isinstance(value, int) and not isinstance(value, bool) and value > MAX_REPEAT:
            raise InvalidRequest(
                f"{where}.{key} is {value}; the embedded llama.cpp engine enforces at most {MAX_REPEAT} "
                f"in a grammar. Lower it, or leave it out and check the length after.", param=f"{where}.{key}")
        if key == "pattern" and isinstance(value, str):
            bounds = [int(n) for match in PATTERN_BOUND.finditer(value) for n in match.groups() if n]
            if bounds and max(bounds) > MAX_REPEAT:
                raise InvalidRequest(
                    f"{where}.pattern repeats {max(bounds)} times; the embedded llama.cpp engine "
                    f"enforces at most {MAX_REPEAT}.", param=f"{where}.pattern")
        if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
            raise InvalidRequest(f"{where}.$ref must point inside the schema (#/...); remote schemas "
                                 "are not fetched.", param=f"{where}.$ref")


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    stack = [(node, path)]
    while stack:  # iterative: a deeply nested schema cannot exhaust the stack here
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                yield path, str(key), value
                stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))


def to_gbnf(source: GrammarSource) -> str:
    """GBNF for a source (pure Python; the helper process runs it)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    if source.kind == "gbnf":
        return source.text
    gbnf = json_schema_to_gbnf(source.text)
    if source.kind == "tools":  # compact JSON: no optional spaces, no \u escapes, no raw control characters
        gbnf = re.sub(r"^space ::= .*$", lambda _: 'space ::= ""', gbnf, flags=re.MULTILINE)
        gbnf = re.sub(r"^char ::= .*$", lambda _: CALL_CHAR, gbnf, flags=re.MULTILINE)
    if source.kind == "tools" and source.auto:  # a call, or plain text that does not start with {
        from aistack.llm.tools import TEXT_RULE

        call = re.sub(r"^root ::=", "call ::=", gbnf, count=1, flags=re.MULTILINE)
        return f"{call}\nroot ::= call | text\n{TEXT_RULE}\n"
    return gbnf


class GrammarHelper:
    """The grammar helper process (aistack.llm.grammar_helper), started on first use and after a crash."""

    def __init__(self, timeout: float = HELPER_TIMEOUT, command: list[str] | None = None):
        self.process = HelperProcess("aistack.llm.grammar_helper", timeout, command)

    def build(self, model_path: str, source: GrammarSource) -> dict[str, str]:
        """{"grammar": GBNF} or {"error": why}; a crash or a timeout is an error, not an exception.
        A timeout or a helper killed from outside is `transient`: the same source may build next time."""
        result = self.process.call({"model_path": model_path, "source": asdict(source)})
        failed = result.pop("failed", None)
        if failed == "crashed":
            return {"error": "llama.cpp's grammar parser crashed on it"}
        if failed == "timeout":
            return {"error": f"building it took longer than {self.process.timeout:.0f} s", "transient": "yes"}
        if failed == "killed":
            return {"error": "the grammar helper was stopped; try again", "transient": "yes"}
        return result

    def close(self) -> None:
        self.process.close()


class GrammarBuilder:
    """A request's llama.cpp grammar, checked by the helper and cached, good or bad."""

    def __init__(self, helper: GrammarHelper | None = None, cache_size: int = CACHE_SIZE):
        self.helper = helper or GrammarHelper()
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, GrammarSource], dict[str, str]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def build(self, model_path: str, request: SamplingParams,
              count_tokens: Callable[[str], int] | None = None) -> str | None:
        """The GBNF to decode with, None for free text; InvalidRequest naming the field otherwise."""
        source = source_for(request, count_tokens)
        if source is None:
            return None
        key = (model_path, source)
        with self._cache_lock:
            result = self._cache.get(key)
            if result is not None:
                self._cache.move_to_end(key)
        if result is None:
            result = self.helper.build(model_path, source)
            if "transient" not in result:
                self._remember(key, result)
        if "error" in result:
            what = "tool parameters schema" if source.kind == "tools" else "JSON schema"
            raise InvalidRequest(f"unsupported {what}: {result['error']}", param=source.param)
        return result["grammar"]

    def _remember(self, key: tuple[str, GrammarSource], result: dict[str, str]) -> None:
        with self._cache_lock:
            self._cache[key] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def close(self) -> None:
        self.helper.close()
