"""Server-side path ingest inside ingest.allowed_paths, and the upload size limit, on an app
built in process (real embedder and embedded Qdrant; the LLM is not involved)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.corpus import mixed_folder
from fastapi.testclient import TestClient

from aistack.container import Container
from aistack.gateway.app import create_app
from aistack.settings.model import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path: Path):
    root = mixed_folder(tmp_path / "allowed")
    (tmp_path / "private.txt").write_text("the root password is hunter2")
    settings = Settings.model_validate({
        "home": str(tmp_path / "home"), "llm": {"backend": "fake"},
        "ingest": {"allowed_paths": [str(root)], "max_upload_bytes": 4096},
    })
    with TestClient(create_app(Container(settings))) as http:
        yield http, root


def test_server_path_inside_the_allowed_root(client) -> None:
    http, root = client
    summary = http.post("/v1/collections/server/documents", json={"path": str(root / "guides")}).json()
    assert (summary["added"], summary["failed"]) == (2, 0)
    whole = http.post("/v1/collections/server/documents", json={"path": str(root), "exclude": ["*.pdf"]}).json()
    # "*.pdf" also matches guides/ops.pdf: gpu.txt is new, ports.md unchanged, latin1 and empty fail
    assert (whole["added"], whole["unchanged"], whole["failed"]) == (1, 1, 2)


@pytest.mark.parametrize("path", ["{root}/../private.txt", "{root}/..", "/etc/passwd"])
def test_paths_outside_the_root_are_forbidden(client, path: str) -> None:
    http, root = client
    response = http.post("/v1/collections/server/documents", json={"path": path.format(root=root)})
    assert response.status_code == 403 and "outside ingest.allowed_paths" in response.json()["error"]["message"]


def test_uploads_over_the_limit_get_413_and_the_server_goes_on(client) -> None:
    http, _ = client
    big = http.post("/v1/collections/uploads/documents", files={"files": ("big.txt", b"x " * 4000)})
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"
    small = http.post("/v1/collections/uploads/documents", files={"files": ("small.txt", b"a small note")})
    assert small.status_code == 200 and small.json()["added"] == 1
    empty = http.post("/v1/collections/uploads/documents", files={"metadata": (None, "{}")})
    assert empty.status_code == 400
    bad_meta = http.post("/v1/collections/uploads/documents", files={"files": ("a.txt", b"a"), "metadata": (None, "[1]")})
    assert bad_meta.status_code == 400 and bad_meta.json()["error"]["param"] == "metadata"


def test_a_vector_store_server_that_is_down_is_not_ready_and_chat_still_works(tmp_path: Path) -> None:
    from support.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    settings = Settings.model_validate({"home": str(tmp_path), "llm": {"backend": "fake"},
                                        "vectorstore": {"backend": "chroma", "chroma": {"url": dead}}})
    with TestClient(create_app(Container(settings))) as http:
        ready = http.get("/ready")
        assert ready.status_code == 503 and "cannot be reached" in ready.json()["vectorstore"]["error"]
        listed = http.get("/v1/collections")
        assert listed.status_code == 503 and listed.json()["error"]["code"] == "backend_unavailable"
        chat = http.post("/v1/chat/completions", json={"model": "fake", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200
