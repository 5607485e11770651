"""Weighted sticky splits (rendezvous hashing) and the router's passive health, with the store on
SQLite and slots that refuse connections (control flow only)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from aistack.deploy.slots import Slot, SlotStore
from aistack.deploy.view import SlotView
from aistack.llm.routing import Route, SlotRouter, rendezvous
from aistack.errors import BackendUnavailable, UpstreamError
from aistack.llm.protocol import ChatCompletionRequest
from aistack.settings import Settings

pytestmark = [pytest.mark.unit]
BLUE = Route("blue", "http://127.0.0.1:9/v1", weight=0.9)
GREEN = Route("green", "http://127.0.0.1:9/v1", weight=0.1)


def test_a_nine_to_one_split_over_2000_users_is_within_bounds_and_sticky() -> None:
    users = [f"user-{i}" for i in range(2000)]
    first = [rendezvous(u, [BLUE, GREEN])[0].name for u in users]
    blue = first.count("blue")
    sd = math.sqrt(2000 * 0.9 * 0.1)  # binomial: 1800 +- 13.4
    assert abs(blue - 1800) < 4 * sd, blue
    assert first == [rendezvous(u, [GREEN, BLUE])[0].name for u in users]  # same user, same slot
    # raising the canary's weight moves only users towards it, never from it to the other slot
    wider = [rendezvous(u, [BLUE, Route("green", GREEN.url, weight=0.3)])[0].name for u in users]
    assert all(after == "green" for before, after in zip(first, wider) if before == "green")
    assert wider.count("green") > first.count("green")


@pytest.mark.anyio
async def test_a_failing_slot_leaves_rotation_and_requests_fail_over(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    store = SlotStore(tmp_path / "state.db")
    view = SlotView(store, settings.deploy)
    router = SlotRouter(view, settings.llm.openai, failure_threshold=2)
    for slot in (Slot("dead", "http://127.0.0.1:9/v1"), Slot("dead2", "http://127.0.0.1:9/v1")):
        store.put(slot, "test")
        store.update(slot.name, "test", "serve", state="active", weight=1.0)
    await router.start()
    request = ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(UpstreamError, match="unreachable"):
        await router.chat(request)  # both tried: each one failed once
    assert sorted(router._failures.values()) == [1, 1]
    with pytest.raises(UpstreamError):
        await router.chat(request)
    assert set(router._cooldown_until) == {"dead", "dead2"}  # two failures in a row: out
    store.update("dead", "test", "stop", state="stopped", weight=0.0)
    store.update("dead2", "test", "stop", state="stopped", weight=0.0)
    await view.refresh()
    with pytest.raises(BackendUnavailable, match="no slot is serving"):
        await router.chat(request)
    await router.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
