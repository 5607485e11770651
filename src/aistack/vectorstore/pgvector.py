"""pgvector: chunks in PostgreSQL, one table per collection with an HNSW index (cosine), beside the
databases teams already run.

A catalogue table names each collection's table, dimension and metadata. Payloads are JSONB (a GIN
index serves the `where` filters); filtered searches scan the index iteratively (pgvector 0.8), so
a narrow filter still fills the top k."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import errors, sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from aistack.errors import BackendUnavailable, Conflict, NotFound
from aistack.settings import Settings
from aistack.settings.data import PgvectorSettings
from aistack.settings.redact import mask_url_passwords
from aistack.vectorstore.base import SOURCE, CollectionInfo, DocumentInfo, Hit, Point, Where, summarise

CATALOGUE = "aistack_vector_collections"
PAGE = 512
T = TypeVar("T")
SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS {CATALOGUE} (
    name text PRIMARY KEY, table_name text NOT NULL UNIQUE, dimension int NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{{}}', created_at timestamptz NOT NULL DEFAULT now())
"""


def table_of(collection: str) -> str:
    """A collection's table: any name users give maps to a plain identifier."""
    return "aistack_vectors_" + hashlib.sha256(collection.encode()).hexdigest()[:20]


def where_clause(where: Where | None) -> tuple[sql.Composable, list[Any]]:
    """All fields must match; a list matches any of its values (JSONB containment, GIN-indexed)."""
    if not where:
        return sql.SQL("TRUE"), []
    parts, params = [], []
    for key, value in where.items():
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        parts.append(sql.SQL("({})").format(sql.SQL(" OR ").join([sql.SQL("payload @> %s")] * len(values))))
        params += [Jsonb({key: v}) for v in values]
    return sql.SQL(" AND ").join(parts), params


class PgvectorStore:
    name = "pgvector"

    def __init__(self, config: PgvectorSettings):
        self.config = config
        self.location = mask_url_passwords(config.url)
        self.lock: Any = nullcontext()  # the database orders concurrent writers
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> PgvectorStore:
        return cls(settings.vectorstore.pgvector)

    # --- connections --------------------------------------------------------------------

    def _open_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                timeout = max(1, round(self.config.timeout))
                with psycopg.connect(self.config.url, autocommit=True, connect_timeout=timeout) as conn:
                    conn.execute(SCHEMA)  # the vector type must exist before connections register it
                pool = ConnectionPool(
                    self.config.url, min_size=1, max_size=self.config.pool_size, timeout=self.config.timeout,
                    kwargs={"autocommit": True, "connect_timeout": timeout,
                            "options": f"-c statement_timeout={int(self.config.timeout * 1000)}"},
                    configure=self._configure, open=False)
                pool.open(wait=True, timeout=self.config.timeout)
                self._pool = pool
            return self._pool

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        try:
            with self._open_pool().connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise BackendUnavailable("the PostgreSQL vector store cannot be reached",
                                     detail=mask_url_passwords(f"{self.config.url}: {exc}")) from None

    def _configure(self, conn: psycopg.Connection) -> None:
        register_vector(conn)
        # once per connection, so that a search is one round trip
        conn.execute(sql.SQL("SET hnsw.ef_search = {}; SET hnsw.iterative_scan = relaxed_order").format(
            sql.Literal(self.config.ef_search)))

    def _on(self, collection: str, action: Callable[[psycopg.Connection, sql.Identifier], T]) -> T:
        """Run `action` on the collection's table; a table that does not exist is NotFound."""
        with self._connection() as conn:
            try:
                return action(conn, sql.Identifier(table_of(collection)))
            except errors.UndefinedTable:
                raise NotFound(f"collection '{collection}' does not exist") from None

    # --- collections --------------------------------------------------------------------

    def create_collection(self, name: str, dimension: int, metadata: dict[str, Any]) -> CollectionInfo:
        table = table_of(name)
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
            if conn.execute(f"SELECT 1 FROM {CATALOGUE} WHERE name = %s", (name,)).fetchone():
                raise Conflict(f"collection '{name}' already exists")
            ident = sql.Identifier(table)
            conn.execute(sql.SQL(
                "CREATE TABLE {} (id text PRIMARY KEY, embedding vector({}) NOT NULL, text text NOT NULL, "
                "payload jsonb NOT NULL)").format(ident, sql.Literal(dimension)))
            conn.execute(sql.SQL(
                "CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})"
            ).format(ident, sql.Literal(self.config.hnsw_m), sql.Literal(self.config.hnsw_ef_construction)))
            conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (payload jsonb_path_ops)").format(ident))
            conn.execute(f"INSERT INTO {CATALOGUE} (name, table_name, dimension, metadata) VALUES (%s, %s, %s, %s)",
                         (name, table, dimension, Jsonb({**metadata, "dimension": dimension})))
        return self.describe(name)

    def list_collections(self) -> list[CollectionInfo]:
        with self._connection() as conn:
            names = [row[0] for row in conn.execute(f"SELECT name FROM {CATALOGUE} ORDER BY name")]
        return [self.describe(name) for name in names]

    def describe(self, name: str) -> CollectionInfo:
        with self._connection() as conn:
            row = conn.execute(f"SELECT table_name, dimension, metadata FROM {CATALOGUE} WHERE name = %s",
                               (name,)).fetchone()
            if row is None:
                raise NotFound(f"collection '{name}' does not exist")
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(row[0]))).fetchone()
        return CollectionInfo(name, int(row[1]), int(count[0] if count else 0), dict(row[2] or {}))

    def delete_collection(self, name: str) -> None:
        with self._connection() as conn, conn.transaction():
            if conn.execute(f"DELETE FROM {CATALOGUE} WHERE name = %s RETURNING name", (name,)).fetchone() is None:
                raise NotFound(f"collection '{name}' does not exist")
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table_of(name))))

    # --- points -------------------------------------------------------------------------

    def upsert(self, name: str, points: list[Point]) -> None:
        def write(conn: psycopg.Connection, table: sql.Identifier) -> None:
            rows = [(p.id, np.asarray(p.vector, dtype=np.float32), p.text, Jsonb(p.payload)) for p in points]
            with conn.transaction(), conn.cursor() as cursor:  # one transaction, the rows pipelined
                cursor.executemany(sql.SQL(
                    "INSERT INTO {} (id, embedding, text, payload) VALUES (%s, %s, %s, %s) ON CONFLICT (id) "
                    "DO UPDATE SET embedding = EXCLUDED.embedding, text = EXCLUDED.text, payload = EXCLUDED.payload"
                ).format(table), rows)

        if points:
            self._on(name, write)
        else:
            self.describe(name)  # NotFound for a missing collection, as every store

    def search(self, name: str, vector: np.ndarray, limit: int,
               score_threshold: float | None = None, where: Where | None = None) -> list[Hit]:
        condition, params = where_clause(where)
        query = np.asarray(vector, dtype=np.float32)

        def nearest(conn: psycopg.Connection, table: sql.Identifier) -> list[Hit]:
            select = sql.SQL("SELECT id, 1 - (embedding <=> %s) AS score, text, payload FROM {} WHERE {} "
                             "ORDER BY embedding <=> %s LIMIT %s").format(table, condition)
            arguments = [query, *params, query, limit]
            if limit <= self.config.ef_search:
                rows = conn.execute(select, arguments).fetchall()
            else:
                with conn.transaction():  # more hits than candidates: widen the list for this query
                    conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(limit)))
                    rows = conn.execute(select, arguments).fetchall()
            hits = [Hit(row[0], float(row[1]), row[2], dict(row[3])) for row in rows]
            hits.sort(key=lambda h: -h.score)  # relaxed order: nearly sorted
            return [h for h in hits if score_threshold is None or h.score >= score_threshold]

        return self._on(name, nearest)

    def _pages(self, name: str, columns: str, where: Where | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows in id order, a page per round trip (no transaction held open between pages)."""
        condition, params = where_clause(where)
        after = ""
        while True:
            rows = self._on(name, lambda conn, table: conn.execute(sql.SQL(
                "SELECT id, " + columns + " FROM {} WHERE id > %s AND {} ORDER BY id LIMIT %s").format(
                table, condition), [after, *params, PAGE]).fetchall())
            yield from rows
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def ids_for_source(self, name: str, source: str) -> set[str]:
        return {row[0] for row in self._pages(name, "1", {SOURCE: source})}

    def delete_ids(self, name: str, ids: set[str]) -> None:
        if ids:
            self._on(name, lambda conn, table: conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(table), (list(ids),)))

    def documents(self, name: str) -> list[DocumentInfo]:
        return summarise(dict(row[1]) for row in self._pages(name, "payload"))

    def points(self, name: str) -> Iterator[Point]:
        for row in self._pages(name, "embedding, text, payload"):
            yield Point(row[0], row[1].to_numpy().astype(np.float32), row[2], dict(row[3]))

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

