"""Tool calls that finish inside their token budget.

The grammar fixes the form of a call, not its length: a small model can ramble inside a string
("A.A.A.A...", a long URL) until max_tokens runs out, and the call is cut off. Two guards:

1. `bounded` gives every free string of a tool's parameters a `maxLength`, and every array a
   `maxItems`, from the budget left once the call's skeleton (names, keys, punctuation) is paid.
   An ASCII character is never more than one token, so those strings fit.
   The call grammar allows no optional whitespace (aistack.llm.grammars), so the skeleton's cost
   is known: it is measured with the model's tokenizer.
2. `close_json` closes a call that still ran out (non-ASCII characters can take more than one
   token): the open string, then the open objects and arrays, dropping a member left
   half-written. The caller accepts it only if the arguments still match the tool's schema.
"""

from __future__ import annotations

import json
from typing import Any

RESERVE_TOKENS = 4  # the closing quotes and braces
ITEM_TOKENS = 3  # an array item's quotes and comma, beyond the skeleton's one empty value
ARRAY_ITEMS = (4, 2, 1)  # the most items an unbounded array may hold: fewer when the budget is tight
LEVELS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1000)  # few grammars


def skeleton(name: str, parameters: dict[str, Any]) -> str:
    """The call with every key written and every value empty: what a call costs before its values."""
    return json.dumps({"name": name, "arguments": {key: "" for key in _keys(parameters)}})


def bounded(parameters: dict[str, Any], skeleton_tokens: int, budget_tokens: int) -> dict[str, Any]:
    """A copy of a tool's parameters whose free strings and arrays fit `budget_tokens`: the
    skeleton, the array items' punctuation, then one token per character of each free value."""
    fixed = skeleton_tokens + RESERVE_TOKENS
    for items in ARRAY_ITEMS:
        slots = _slots(parameters, items)
        if not slots:
            return parameters
        spare = budget_tokens - fixed - ITEM_TOKENS * (slots - _slots(parameters, 1))
        if spare // slots >= 4:
            break
    if spare // slots > LEVELS[-1]:
        return parameters  # room to spare: no bound cuts a long value short
    per_slot = max([level for level in LEVELS if level <= max(1, spare // slots)])
    return _with_bounds(parameters, per_slot, items)


def _slots(node: Any, items: int) -> int:
    """How many free strings (and numbers) a value of this schema can hold at most."""
    if not isinstance(node, dict):
        return 0
    if "properties" in node:
        return sum(_slots(p, items) for p in node["properties"].values())
    choices = node.get("anyOf") or node.get("oneOf")
    if choices:
        return max(_slots(c, items) for c in choices)
    kind = node.get("type")
    if kind == "array":
        return _array_items(node, items) * max(1, _slots(node.get("items", {}), items))
    if kind in ("string", "number", "integer") and "enum" not in node and "const" not in node:
        return 1
    return 0


def _keys(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*node.get("properties", {}), *(k for v in node.values() for k in _keys(v))]
    if isinstance(node, list):
        return [k for v in node for k in _keys(v)]
    return []


def _array_items(node: dict[str, Any], items: int) -> int:
    return max(node.get("minItems", 0), min(node.get("maxItems", items), items))


def _free_string(node: dict[str, Any]) -> bool:
    return node.get("type") == "string" and not {"enum", "const", "pattern", "format"} & node.keys()


def _with_bounds(node: Any, chars: int, items: int) -> Any:
    if isinstance(node, list):
        return [_with_bounds(v, chars, items) for v in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_bounds(value, chars, items) if key not in ("enum", "const", "default") else value
           for key, value in node.items()}
    if _free_string(node):
        out["maxLength"] = max(node.get("minLength", 0), min(node.get("maxLength", chars), chars))
    if node.get("type") == "array":
        out["maxItems"] = _array_items(node, items)
    return out


def close_json(text: str) -> str | None:
    """The text with its open string, objects and arrays closed; a member left half-written (a
    key without a value) is dropped. None when nothing is open or nothing valid is left."""
    closers, in_string, escaped = _open(text)
    if not closers:
        return None
    head = (text[:-1] if escaped else text) + ('"' if in_string else "")
    for _ in range(16):  # cut back one member at a time until what is left closes
        closers = _open(head)[0]
        candidate = head.rstrip().rstrip(",") + "".join(reversed(closers))
        try:
            json.loads(candidate)
            return candidate
        except json.JSONDecodeError:
            cut = max(head.rfind(","), head.rfind("{"), head.rfind("["))
            if cut <= 0:
                return None
            # an opening bracket stays (its container closes empty) unless it is what failed to close
            head = head[:cut + 1] if head[cut] in "{[" and cut < len(head.rstrip()) - 1 else head[:cut]
    return None


def _open(text: str) -> tuple[list[str], bool, bool]:
    """The closers of the containers open at the end of `text`, and whether a string (and an
    escape in it) is open."""
    closers: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]" and closers:
            closers.pop()
    return closers, in_string, escaped
