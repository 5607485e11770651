"""The gateway's whole OpenAPI surface, fuzzed by schemathesis from its own /openapi.json: for
every declared operation, generated bodies, queries and paths (valid and not), a real `aistack
serve` on the fake backend never answers 500, 502 or 504, shows no traceback or internal path,
and is still ready afterwards; each 2xx answer conforms to the response model the operation
declares. A 503 is allowed only as a clear "unavailable" error (a feature that
is not configured here, such as snapshots without S3), and the same one every time.

The admin API is left off (no admin keys): its slot definitions would start generated commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from support.servers import ServerProcess, start_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEY = "fuzz-key"
UNAVAILABLE_SEEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("fuzz")
    env = {"AISTACK_LLM__BACKEND": "fake", "AISTACK_SERVER__API_KEYS": f'["{KEY}"]'}
    with start_gateway(env, tmp) as gateway:
        yield gateway


def operations(url: str) -> list:
    loaded = schemathesis.openapi.from_url(url + "/openapi.json")
    return [found.ok() for found in loaded.get_all_operations()]


def test_no_input_gets_a_server_error(fuzzed: ServerProcess) -> None:
    """Valid and invalid inputs for each operation (schemathesis' strategies, driven by hypothesis)."""
    checked = []
    for operation in operations(fuzzed.url):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(mode))
            @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                      database=None)
            def check(case) -> None:
                call(case, fuzzed)

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing there to make invalid
        checked.append(operation.label)
    assert len(checked) >= 25, checked  # every declared operation was reached


def call(case, fuzzed: ServerProcess) -> None:
    response = case.call(base_url=fuzzed.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    label = f"{case.method} {case.path}"
    assert response.status_code not in (500, 502, 504), (label, response.status_code, response.text[:500])
    text = response.text
    assert "Traceback" not in text and str(Path.home()) not in text and "/tmp/" not in text, (label, text[:500])
    if 200 <= response.status_code < 300:  # the answer is the response model the operation declares
        case.validate_response(response, checks=[response_schema_conformance])
    if response.status_code == 503:
        error = response.json()["error"]
        assert error["message"], (label, error)
        first = UNAVAILABLE_SEEN.setdefault(label, error["message"])
        assert error["message"] == first, (label, first, error["message"])  # the same answer every time


def test_the_gateway_is_ready_after_the_fuzz(fuzzed: ServerProcess) -> None:
    assert httpx.get(fuzzed.url + "/health", timeout=5).status_code == 200
    assert httpx.get(fuzzed.url + "/ready", timeout=15).status_code == 200
