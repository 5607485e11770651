from __future__ import annotations

from pathlib import Path

import pytest
from aistack.testing.slotstore import SlotStoreContract

from aistack.deploy.slots import SlotStore

pytestmark = pytest.mark.unit


class TestSQLiteSlotStore(SlotStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> SlotStore:
        return SlotStore(tmp_path / "deploy" / "state.db")


@pytest.mark.parametrize(("field", "value"), [
    ("name", "blue\n"), ("name", "Blue"), ("version", "v1\n    server 10.0.0.9:80;"), ("version", "v 1"), ("version", ""),
])
def test_slot_names_and_versions_that_could_reach_nginx_are_refused(field: str, value: str) -> None:
    from aistack.deploy.slots import Slot, check_slot
    from aistack.errors import InvalidRequest

    slot = {"name": "blue", "url": "http://127.0.0.1:8001/v1", "model": "m", "weight": 0.0, "state": "stopped",
            "version": "v1.2.0", field: value}
    with pytest.raises(InvalidRequest) as refused:
        check_slot(Slot(**slot))
    assert refused.value.param == field


def test_names_with_a_trailing_newline_are_refused() -> None:
    from aistack.agents.service import THREAD_ID
    from aistack.errors import InvalidRequest
    from aistack.knowledge.collections import check_name

    with pytest.raises(InvalidRequest):
        check_name("handbook\n")
    assert check_name("handbook") == "handbook"
    assert THREAD_ID.fullmatch("run-1\n") is None and THREAD_ID.fullmatch("run-1")
