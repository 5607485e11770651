"""The response store on both of its databases, the real PostgreSQL and SQLite: a stored response
and its conversation read back, deleted, and gone once past retention_days."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import fresh_database

from aistack.responses.store import ResponseStore, Stored

pytestmark = pytest.mark.integration


@pytest.fixture(params=["postgres", "sqlite"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "responses.db")
        return
    with fresh_database("responses") as url:
        yield url


def stored(response_id: str) -> Stored:
    return Stored(response_id, "red", "user:ada", {"id": response_id, "output": [{"type": "message"}]},
                  [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}])


def test_put_get_delete_and_retention(location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResponseStore(location, timeout=5, retention_days=1)
    store.put(stored("resp_a"))
    got = store.get("resp_a")
    assert got is not None and got.team == "red" and got.owner == "user:ada"
    assert got.history() == got.conversation + [{"type": "message"}]
    assert store.delete("resp_a") and store.get("resp_a") is None and not store.delete("resp_a")

    store.put(stored("resp_old"))
    later = time.time() + 2 * 86_400
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.get("resp_old") is None  # past retention: not readable, and dropped by the next write
    store.put(stored("resp_new"))
    monkeypatch.undo()
    with store.sql.transaction(write=False) as db:
        assert [row[0] for row in db.execute("SELECT id FROM responses").fetchall()] == ["resp_new"]
