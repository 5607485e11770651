from __future__ import annotations

from pathlib import Path

import pytest
from contracts.slotstore import SlotStoreContract

from aistack.deploy.slots import SlotStore

pytestmark = pytest.mark.unit


class TestSQLiteSlotStore(SlotStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> SlotStore:
        return SlotStore(tmp_path / "deploy" / "state.db")
