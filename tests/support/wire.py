"""Holds a gateway's answers to the response models its routes declare in /openapi.json."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, TypeAdapter
from starlette.routing import Match


def flat(routes: list[Any]) -> list[Any]:
    """The routes, those of included routers in their place (FastAPI keeps those apart)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found += flat(inner.routes) if inner is not None else [route]
    return found


def declared_model(app: Any, method: str, path: str) -> Any:
    """The response model of the route that serves `method path`."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in flat(app.routes):
        if route.matches(scope)[0] == Match.FULL:
            return getattr(route, "response_model", None)
    raise AssertionError(f"no route serves {method} {path}")


def check(app: Any, response: httpx.Response) -> Any:
    """The JSON answer, validated against the declared model (every field named, none extra)."""
    assert response.is_success, (response.status_code, response.text[:300])
    model = declared_model(app, response.request.method, response.request.url.path)
    assert model is not None, f"{response.request.method} {response.request.url.path} declares no response model"
    return conforms(model, response.json())


def conforms(model: Any, body: Any) -> Any:
    """`body` as `model` would have it: every field named, none extra."""
    every_field_sent(TypeAdapter(model).validate_python(body))
    return body


def every_field_sent(value: Any) -> None:
    """No field of the model was filled by its default: the answer named each one."""
    if isinstance(value, BaseModel):
        missing = set(type(value).model_fields) - value.model_fields_set
        assert not missing, f"{type(value).__name__}: the answer lacks {sorted(missing)}"
        for name in type(value).model_fields:
            every_field_sent(getattr(value, name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            every_field_sent(item)
    elif isinstance(value, dict):
        for item in value.values():
            every_field_sent(item)
