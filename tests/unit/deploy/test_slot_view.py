"""The slot view the router reads: never a store round trip on the request path, the last good
view while the store is down or hangs, and a 503 without the store's address before any read.
The hanging store is a real socket that accepts and never answers (PostgreSQL's client waits for
its greeting)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aistack.container import Container
from aistack.deploy.slots import Slot, SlotStore
from aistack.deploy.view import SlotView
from aistack.errors import BackendUnavailable
from aistack.gateway.app import create_app
from aistack.settings import Settings
from aistack.settings.deploy import DeploySettings

pytestmark = [pytest.mark.unit]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port whose server accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


class Switchable(SlotStore):
    """A real SQLite store whose reads can be made to hang or fail, as a store server's would."""

    def __init__(self, location: Path):
        super().__init__(location)
        self.mode = "up"
        self.release = threading.Event()

    def list(self) -> list[Slot]:
        if self.mode == "hang":
            self.release.wait(30)
        if self.mode == "down":
            raise ConnectionRefusedError("connection to 10.0.0.7:5432 refused")
        return super().list()


@pytest.mark.anyio
async def test_the_last_good_view_serves_while_the_store_hangs_or_is_down(tmp_path: Path) -> None:
    store = Switchable(tmp_path / "state.db")
    store.put(Slot("blue", "http://127.0.0.1:9/v1"), "test")
    store.update("blue", "test", "serve", state="active", weight=1.0)
    view = SlotView(store, DeploySettings(refresh_interval=0.05, store_timeout=0.2))
    await view.start()
    try:
        assert [r.name for r in view.routes()] == ["blue"]
        store.mode = "hang"
        started = time.monotonic()
        assert [r.name for r in await view.refresh()] == ["blue"]  # gave up after store_timeout
        assert time.monotonic() - started < 1 and view.stale
        for _ in range(20):  # the background refresh joins the hung read rather than piling up threads
            assert [r.name for r in view.routes()] == ["blue"]
            await asyncio.sleep(0.02)
        store.mode = "down"
        store.release.set()
        await asyncio.sleep(0.3)
        assert [r.name for r in view.routes()] == ["blue"] and view.stale
        store.mode = "up"
        store.update("blue", "test", "stop", state="stopped", weight=0.0)
        await asyncio.sleep(0.3)
        assert view.routes() == [] and not view.stale  # the store answers again: the view follows it
    finally:
        store.release.set()
        await view.close()


def test_a_gateway_whose_slot_store_never_answers_starts_and_says_503(tmp_path: Path, silent_port: int,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.model_validate({
        "home": str(tmp_path), "llm": {"backend": "slots"},
        "deploy": {"store_url": f"postgresql://aistack@127.0.0.1:{silent_port}/slots", "store_timeout": 1,
                   "refresh_interval": 0.2}})
    started = time.monotonic()
    with TestClient(create_app(Container(settings))) as http:
        assert time.monotonic() - started < 10  # start-up does not wait on the store
        chat = http.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 503, chat.text
        assert chat.json()["error"]["code"] == "backend_unavailable"
        ready = http.get("/ready")
        assert ready.status_code == 503
        for response in (chat, ready):
            assert str(silent_port) not in response.text and "127.0.0.1" not in response.text
        slow = max(timed(http, "/health") for _ in range(10))
        assert slow < 0.5, slow  # the loop is never the one waiting on the store


def timed(http: TestClient, path: str) -> float:
    started = time.monotonic()
    assert http.get(path).status_code == 200
    return time.monotonic() - started


@pytest.mark.anyio
async def test_before_any_read_the_view_says_the_store_is_unreachable(tmp_path: Path) -> None:
    store = Switchable(tmp_path / "state.db")
    store.mode = "down"
    view = SlotView(store, DeploySettings(refresh_interval=30, store_timeout=0.2))
    await view.start()
    try:
        with pytest.raises(BackendUnavailable, match="deployment store is unreachable") as raised:
            view.routes()
        assert "10.0.0.7" not in raised.value.message
    finally:
        await view.close()
