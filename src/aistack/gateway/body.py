"""Request bodies: parsed by the route (whatever Content-Type the client sent: curl -d sends a
form), and declared in /openapi.json all the same, so generated clients and API fuzzers see them."""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from aistack.errors import InvalidRequest, RequestTimeout, validation_error

Body = TypeVar("Body", bound=BaseModel)


async def read_body(http: Request) -> bytes:
    """The whole body, within `server.body_timeout` (a client that announces more than it sends
    must not hold the request open): else a 408."""
    timeout = http.app.state.container.settings.server.body_timeout
    try:
        with anyio.fail_after(timeout):
            return await http.body()
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {timeout:g} s (server.body_timeout)") from None


async def parse(http: Request, model: type[Body]) -> Body:
    """The JSON body as `model`; malformed JSON or a bad field is a 400 naming it."""
    try:
        data = orjson.loads(await read_body(http))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


def declares(model: type[BaseModel], required: bool = True, **media: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses `model` itself: its JSON schema as the request body
    (and, by keyword, other media types: `multipart_form_data=...`)."""
    content: dict[str, Any] = {"application/json": {"schema": model.model_json_schema()}}
    for name, schema in media.items():
        kind = name.replace("_", "/", 1).replace("_", "-")
        content[kind] = {"schema": schema if isinstance(schema, dict) else schema.model_json_schema()}
    return {"requestBody": {"required": required, "content": content}}
