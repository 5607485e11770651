"""The slot store on the PostgreSQL at 127.0.0.1:5432, in a database made for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aistack.testing.slotstore import SlotStoreContract
from support.postgres import fresh_database

from aistack.deploy.slots import SlotStore

pytestmark = pytest.mark.integration


class TestPostgresSlotStore(SlotStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[SlotStore]:
        with fresh_database("slots") as url:
            yield SlotStore(url)
