"""A database of its own on the machine's PostgreSQL (127.0.0.1:5432, trust auth), dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

ADMIN = "host=127.0.0.1 user=postgres dbname=test"


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A postgresql:// URL of a new, empty database."""
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{database}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
