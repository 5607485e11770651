"""What every slot store (SQLite, PostgreSQL) must do: atomic changes, each one audited."""

from __future__ import annotations

import pytest

from aistack.deploy.slots import Slot, SlotStore
from aistack.errors import Conflict, InvalidRequest, NotFound

BLUE = Slot("blue", "http://127.0.0.1:8001/v1", model="m", version="v1")
GREEN = Slot("green", "http://127.0.0.1:8002/v1", model="m", version="v2")


class SlotStoreContract:
    @pytest.fixture
    def store(self) -> SlotStore:
        raise NotImplementedError

    def test_define_list_and_keep_state_on_redefine(self, store: SlotStore) -> None:
        store.put(BLUE, "ops")
        store.update("blue", "ops", "ready", state="ready")
        again = store.put(Slot("blue", "http://127.0.0.1:9001/v1", version="v1.1"), "ops")
        assert (again.state, again.url, again.version) == ("ready", "http://127.0.0.1:9001/v1", "v1.1")
        assert [s.name for s in store.list()] == ["blue"]

    def test_switch_is_one_step_and_remembers_the_previous_slot(self, store: SlotStore) -> None:
        store.put(BLUE, "ops")
        store.put(GREEN, "ops")
        store.update("blue", "ops", "ready", state="ready")
        store.switch("blue", "ops")
        store.update("green", "ops", "ready", state="ready")
        active, old = store.switch("green", "deployer")
        assert (active.name, active.state, active.weight) == ("green", "active", 1.0)
        assert [s.name for s in old] == ["blue"] and store.get("blue").state == "draining"
        assert store.get("blue").weight == 0
        assert store.previous_active() == "blue"
        last = store.audit(2)
        assert [(e["action"], e["slot"], e["actor"]) for e in last] == [
            ("switch-to", "green", "deployer"), ("switch-from", "blue", "deployer")]
        assert last[1]["before"]["state"] == "active" and last[1]["after"]["state"] == "draining"

    def test_bad_changes_leave_the_state_unchanged(self, store: SlotStore) -> None:
        store.put(BLUE, "ops")
        before = store.audit()
        with pytest.raises(Conflict, match="only a healthy slot"):
            store.switch("blue", "ops")  # stopped
        with pytest.raises(NotFound):
            store.switch("purple", "ops")
        with pytest.raises(InvalidRequest, match="weight"):
            store.update("blue", "ops", "weight", weight=-1)
        with pytest.raises(InvalidRequest, match="slot name"):
            store.put(Slot("Blue!", "http://x/v1"), "ops")
        with pytest.raises(Conflict, match="needs it ready"):
            store.update("blue", "ops", "start", expect=("ready",), state="starting")
        assert store.get("blue") == BLUE and store.audit() == before

    def test_delete_refuses_a_serving_slot(self, store: SlotStore) -> None:
        store.put(BLUE, "ops")
        store.update("blue", "ops", "ready", state="ready")
        store.switch("blue", "ops")
        with pytest.raises(Conflict, match="stop it"):
            store.delete("blue", "ops")
        store.update("blue", "ops", "stop", state="stopped", weight=0)
        store.delete("blue", "ops")
        assert store.list() == [] and store.audit(1)[0]["action"] == "delete"
