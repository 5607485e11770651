"""An MCP tool's JSON-schema input as the pydantic model its calls are checked against."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aistack.agents.mcp_tools import arguments_model, tool_name

pytestmark = pytest.mark.unit
SCHEMA = {"type": "object", "required": ["ticket_id"], "properties": {
    "ticket_id": {"type": "string"}, "priority": {"type": "integer", "default": 3},
    "state": {"enum": ["open", "closed"]}, "tags": {"type": "array", "items": {"type": "string"}},
    "note": {"type": ["string", "null"]}}}


def test_fields_are_typed_required_and_closed() -> None:
    model = arguments_model("tickets_update", SCHEMA)
    made = model.model_validate({"ticket_id": "T-1", "state": "open", "tags": ["a"]})
    assert made.model_dump() == {"ticket_id": "T-1", "priority": 3, "state": "open", "tags": ["a"], "note": None}
    for bad in ({}, {"ticket_id": "T-1", "priority": "high"}, {"ticket_id": "T-1", "state": "gone"},
                {"ticket_id": "T-1", "tags": [{"x": 1}]}, {"ticket_id": "T-1", "extra": True}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_tool_names_fit_openais_pattern() -> None:
    assert tool_name("tickets", "close.ticket v2") == "tickets_close_ticket_v2"
    assert len(tool_name("s" * 24, "t" * 80)) == 64
