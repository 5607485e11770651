"""One SQL store for aistack's own state: SQLite (a file path) or PostgreSQL (a postgresql:// URL),
the same SQL for both (`?` placeholders), with numbered schema migrations.

The deployment state (deploy/slots.py) and the principals and usage (access/) use it. Nothing is
read when a store is made: the first transaction applies the migrations, so a store that is down
at start-up does not stop the gateway."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# one row per (component, version) applied; a migration is a list of statements
MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL)"
Migration = Sequence[str]


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


class SqlStore:
    """`component` names this store's migrations (several stores may share one database);
    `lock_table`, when set, is locked by every PostgreSQL write so writers go one at a time."""

    def __init__(self, location: str | Path, component: str, migrations: Sequence[Migration],
                 connect_timeout: float = 5.0, lock_table: str | None = None):
        self.location = str(location)
        self.component = component
        self.migrations = migrations
        self.postgres = is_postgres(self.location)
        self.connect_timeout = connect_timeout
        self.lock_table = lock_table
        self._lock = threading.Lock()  # SQLite: one writer per process at a time
        self._schema_ready = False
        if not self.postgres:
            Path(self.location).parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        """One transaction: `db.execute(sql, params)` and `db.executemany(sql, rows)`, `?` placeholders."""
        if not self._schema_ready:
            self._migrate()
        with self._open(write) as db:
            yield db

    def _migrate(self) -> None:
        with self._open(write=True, migrating=True) as db:
            db.execute(MIGRATIONS_TABLE)
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations WHERE component = ?",
                                                  (self.component,)).fetchall()}
            for version, statements in enumerate(self.migrations, start=1):
                if version in done:
                    continue
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (self.component, version))
        self._schema_ready = True

    @contextmanager
    def _open(self, write: bool, migrating: bool = False) -> Iterator[Any]:
        """Writers go one at a time (SQLite's IMMEDIATE; a table lock on PostgreSQL); readers never
        wait for each other."""
        if self.postgres:
            import psycopg

            with psycopg.connect(self.location, connect_timeout=max(1, round(self.connect_timeout))) as conn, \
                    conn.transaction():
                if migrating:  # two gateways starting at once: one migrates, the other waits and sees it done
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.component,))
                elif write and self.lock_table:
                    conn.execute(f"LOCK TABLE {self.lock_table} IN SHARE ROW EXCLUSIVE MODE")
                yield _Postgres(conn)
            return
        with self._lock:
            conn = sqlite3.connect(self.location, timeout=30, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()


class _Postgres:
    """psycopg with SQLite's `?` placeholders."""

    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, query: str, params: tuple = ()) -> Any:
        return self.conn.execute(query.replace("?", "%s"), params)

    def executemany(self, query: str, rows: list[tuple]) -> None:
        with self.conn.cursor() as cursor:  # psycopg pipelines the rows: one round trip, not one a row
            cursor.executemany(query.replace("?", "%s"), rows)
