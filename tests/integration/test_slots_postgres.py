"""The slot store on the PostgreSQL at 127.0.0.1:5432, in a database made for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from aistack.testing.slotstore import SlotStoreContract

from aistack.deploy.slots import SlotStore

pytestmark = pytest.mark.integration
ADMIN = "host=127.0.0.1 user=postgres dbname=test"


class TestPostgresSlotStore(SlotStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[SlotStore]:
        database = f"slots_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        yield SlotStore(f"postgresql://postgres@127.0.0.1:5432/{database}")
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
