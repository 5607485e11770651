"""Teams, users, API keys and collection shares, in aistack's SQL store: SQLite under the data
home by default, PostgreSQL (`access.store_url`) when gateways share it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aistack.errors import Conflict, NotFound
from aistack.knowledge.owners import Share
from aistack.principals import Limits
from aistack.sqlstore import SqlStore

MIGRATIONS = [
    [
        """CREATE TABLE IF NOT EXISTS teams (
            name TEXT PRIMARY KEY, created_at TEXT NOT NULL, models TEXT,
            requests_per_minute DOUBLE PRECISION, tokens_per_minute DOUBLE PRECISION,
            token_budget BIGINT, budget_period TEXT)""",
        """CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY, team TEXT NOT NULL, created_at TEXT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS api_keys (
            id TEXT PRIMARY KEY, digest TEXT NOT NULL, last4 TEXT NOT NULL, name TEXT, team TEXT NOT NULL,
            user_name TEXT, scopes TEXT NOT NULL, models TEXT, created_at TEXT NOT NULL, expires_at TEXT,
            revoked_at TEXT, replaced_by TEXT,
            requests_per_minute DOUBLE PRECISION, tokens_per_minute DOUBLE PRECISION,
            token_budget BIGINT, budget_period TEXT)""",
        """CREATE TABLE IF NOT EXISTS collection_shares (
            team TEXT NOT NULL, collection TEXT NOT NULL, grantee TEXT NOT NULL, access TEXT NOT NULL,
            created_at TEXT NOT NULL, PRIMARY KEY (team, collection, grantee))""",
    ],
    [  # the usage ledger: raw events (kept access.usage_retention_days) and hourly rollups reports read
        """CREATE TABLE IF NOT EXISTS usage_events (
            at TEXT NOT NULL, principal TEXT NOT NULL, key_id TEXT, team TEXT NOT NULL, model TEXT,
            path TEXT NOT NULL, status INTEGER NOT NULL, prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL, latency_ms DOUBLE PRECISION NOT NULL, stream INTEGER NOT NULL,
            outcome TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS usage_events_at ON usage_events (at)",
        """CREATE TABLE IF NOT EXISTS usage_hourly (
            hour TEXT NOT NULL, team TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL,
            requests BIGINT NOT NULL, errors BIGINT NOT NULL, abandoned BIGINT NOT NULL,
            prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (hour, team, key_id, model))""",
    ],
]


# an event's hour, added into the rollup row of its (hour, team, key, model)
ROLLUP = ("INSERT INTO usage_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (hour, team, key_id, model) DO UPDATE SET "
          "requests = usage_hourly.requests + excluded.requests, errors = usage_hourly.errors + excluded.errors, "
          "abandoned = usage_hourly.abandoned + excluded.abandoned, "
          "prompt_tokens = usage_hourly.prompt_tokens + excluded.prompt_tokens, "
          "completion_tokens = usage_hourly.completion_tokens + excluded.completion_tokens, "
          "latency_ms = usage_hourly.latency_ms + excluded.latency_ms")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Team:
    name: str
    created_at: str
    models: list[str] | None = None
    limits: Limits = Limits()

    def as_json(self) -> dict[str, Any]:
        return {"object": "team", "name": self.name, "created_at": self.created_at, "models": self.models,
                **asdict(self.limits)}


@dataclass(frozen=True)
class User:
    name: str
    team: str
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return {"object": "user", **asdict(self)}


@dataclass(frozen=True)
class ApiKey:
    """A stored key: everything but the key itself."""

    id: str
    digest: str
    last4: str
    name: str | None
    team: str
    user: str | None
    scopes: list[str]
    models: list[str] | None
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    replaced_by: str | None = None
    limits: Limits = Limits()

    def as_json(self) -> dict[str, Any]:
        from aistack.access.keys import public_name

        data = {k: v for k, v in asdict(self).items() if k not in ("digest", "last4", "limits")}
        return {"object": "api_key", **data, **asdict(self.limits), "key": public_name(self.id, self.last4)}


@dataclass(frozen=True)
class UsageEvent:
    at: str  # ISO 8601, UTC
    principal: str
    key_id: str | None
    team: str
    model: str | None
    path: str
    status: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    stream: bool
    outcome: str  # ok | error | abandoned


def _list(value: str | None) -> list[str] | None:
    return json.loads(value) if value else None


KEY_COLUMNS = ("id, digest, last4, name, team, user_name, scopes, models, created_at, expires_at, revoked_at, "
               "replaced_by, requests_per_minute, tokens_per_minute, token_budget, budget_period")


def _key(row: tuple) -> ApiKey:
    *head, rpm, tpm, budget, period = row
    key_id, dig, last4, name, team, user, scopes, models, created, expires, revoked, replaced = head
    return ApiKey(key_id, dig, last4, name, team, user, json.loads(scopes), _list(models), created, expires, revoked,
                  replaced, Limits(rpm, tpm, budget, period))


class AccessStore:
    def __init__(self, location: str | Path, connect_timeout: float = 5.0):
        self.sql = SqlStore(location, "access", MIGRATIONS, connect_timeout)
        self.location = self.sql.location

    # teams

    def add_team(self, name: str, models: list[str] | None = None, limits: Limits = Limits()) -> Team:
        with self.sql.transaction() as db:
            if db.execute("SELECT 1 FROM teams WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"team '{name}' exists already")
            made = Team(name, now(), models, limits)
            db.execute("INSERT INTO teams VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (name, made.created_at, json.dumps(models) if models else None, limits.requests_per_minute,
                        limits.tokens_per_minute, limits.token_budget, limits.budget_period))
            return made

    def teams(self, name: str | None = None) -> list[Team]:
        query = ("SELECT name, created_at, models, requests_per_minute, tokens_per_minute, token_budget, budget_period "
                 "FROM teams")
        with self.sql.transaction(write=False) as db:
            rows = db.execute(query + " WHERE name = ?" if name else query + " ORDER BY name",
                              (name,) if name else ()).fetchall()
        return [Team(n, c, _list(m), Limits(*rest)) for n, c, m, *rest in rows]

    def team(self, name: str) -> Team:
        found = self.teams(name)  # one row: a key check on a cache miss reads its team
        if not found:
            raise NotFound(f"no team '{name}'", param="team")
        return found[0]

    def update_team(self, name: str, models: list[str] | None, limits: Limits) -> Team:
        with self.sql.transaction() as db:
            changed = db.execute("UPDATE teams SET models = ?, requests_per_minute = ?, tokens_per_minute = ?, "
                                 "token_budget = ?, budget_period = ? WHERE name = ?",
                                 (json.dumps(models) if models else None, limits.requests_per_minute,
                                  limits.tokens_per_minute, limits.token_budget, limits.budget_period, name))
            if changed.rowcount == 0:
                raise NotFound(f"no team '{name}'", param="team")
        return self.team(name)

    def delete_team(self, name: str) -> None:
        with self.sql.transaction() as db:
            if db.execute("SELECT 1 FROM api_keys WHERE team = ? AND revoked_at IS NULL", (name,)).fetchone():
                raise Conflict(f"team '{name}' still has keys: revoke them first")
            if db.execute("DELETE FROM teams WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"no team '{name}'", param="team")
            db.execute("DELETE FROM users WHERE team = ?", (name,))
            db.execute("DELETE FROM collection_shares WHERE team = ? OR grantee = ?", (name, name))

    # users

    def add_user(self, name: str, team: str) -> User:
        with self.sql.transaction() as db:
            if not db.execute("SELECT 1 FROM teams WHERE name = ?", (team,)).fetchone():
                raise NotFound(f"no team '{team}'", param="team")
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"user '{name}' exists already")
            made = User(name, team, now())
            db.execute("INSERT INTO users VALUES (?, ?, ?)", (name, team, made.created_at))
            return made

    def users(self, team: str | None = None) -> list[User]:
        with self.sql.transaction(write=False) as db:
            rows = db.execute("SELECT name, team, created_at FROM users ORDER BY name").fetchall()
        return [User(*row) for row in rows if team is None or row[1] == team]

    def user(self, name: str) -> User:
        with self.sql.transaction(write=False) as db:
            found = [User(*row) for row in db.execute("SELECT name, team, created_at FROM users WHERE name = ?",
                                                      (name,)).fetchall()]
        if not found:
            raise NotFound(f"no user '{name}'", param="user")
        return found[0]

    # keys

    def add_key(self, key: ApiKey) -> ApiKey:
        with self.sql.transaction() as db:
            if not db.execute("SELECT 1 FROM teams WHERE name = ?", (key.team,)).fetchone():
                raise NotFound(f"no team '{key.team}'", param="team")
            self._insert_key(db, key)
        return key

    @staticmethod
    def _insert_key(db: Any, key: ApiKey) -> None:
        limits = key.limits
        db.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ({', '.join('?' * 16)})",
                   (key.id, key.digest, key.last4, key.name, key.team, key.user, json.dumps(key.scopes),
                    json.dumps(key.models) if key.models else None, key.created_at, key.expires_at, key.revoked_at,
                    key.replaced_by, limits.requests_per_minute, limits.tokens_per_minute, limits.token_budget,
                    limits.budget_period))

    def key(self, key_id: str) -> ApiKey | None:
        with self.sql.transaction(write=False) as db:
            row = db.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    def keys(self, team: str | None = None) -> list[ApiKey]:
        with self.sql.transaction(write=False) as db:
            rows = db.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at").fetchall()
        return [_key(r) for r in rows if team is None or r[4] == team]

    def has_keys(self) -> bool:
        """Whether a key was ever made: revoking the last one must not open the gateway."""
        with self.sql.transaction(write=False) as db:
            return db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def revoke(self, key_id: str, replaced_by: str | None = None) -> ApiKey:
        with self.sql.transaction() as db:
            changed = db.execute("UPDATE api_keys SET revoked_at = ?, replaced_by = ? WHERE id = ? "
                                 "AND revoked_at IS NULL", (now(), replaced_by, key_id))
            if changed.rowcount == 0 and not db.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)).fetchone():
                raise NotFound(f"no key '{key_id}'", param="key")
        return self.key(key_id)  # type: ignore[return-value]

    def rotate(self, old_id: str, new: ApiKey) -> ApiKey:
        """The new key and the old one's end, in one transaction."""
        with self.sql.transaction() as db:
            changed = db.execute("UPDATE api_keys SET revoked_at = ?, replaced_by = ? WHERE id = ? "
                                 "AND revoked_at IS NULL", (now(), new.id, old_id))
            if changed.rowcount == 0:
                raise NotFound(f"no active key '{old_id}'", param="key")
            self._insert_key(db, new)
        return new

    # the usage ledger

    def record_usage(self, events: list[UsageEvent]) -> None:
        """One transaction: the raw rows, and each one added into its hour's rollup."""
        if not events:
            return
        rollups: dict[tuple[str, str, str, str], list[float]] = {}
        for e in events:
            row = rollups.setdefault((e.at[:13], e.team, e.key_id or e.principal, e.model or "-"), [0] * 6)
            for i, value in enumerate((1, e.status >= 400, e.outcome == "abandoned", e.prompt_tokens,
                                       e.completion_tokens, e.latency_ms)):
                row[i] += value
        with self.sql.transaction() as db:
            db.executemany("INSERT INTO usage_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(e.at, e.principal, e.key_id, e.team, e.model, e.path, e.status, e.prompt_tokens,
                             e.completion_tokens, e.latency_ms, int(e.stream), e.outcome) for e in events])
            db.executemany(ROLLUP, [(*group, *(int(v) for v in sums[:5]), float(sums[5]))
                                    for group, sums in rollups.items()])

    def usage(self, since: str, until: str | None = None, team: str | None = None, key_id: str | None = None,
              model: str | None = None, by: str = "day") -> list[dict[str, Any]]:
        """Rollups summed by `by` (hour, day, month, team, key or model), read from the hourly rollups only."""
        group = {"hour": "hour", "day": "substr(hour, 1, 10)", "month": "substr(hour, 1, 7)", "team": "team",
                 "key": "key_id", "model": "model"}[by]
        where, params = ["hour >= ?"], [since[:13]]
        for column, value in (("hour < ?", until and until[:13]), ("team = ?", team), ("key_id = ?", key_id),
                              ("model = ?", model)):
            if value:
                where.append(column)
                params.append(value)
        query = (f"SELECT {group} AS grp, SUM(requests), SUM(errors), SUM(abandoned), SUM(prompt_tokens), "
                 f"SUM(completion_tokens), SUM(latency_ms) FROM usage_hourly WHERE {' AND '.join(where)} "
                 f"GROUP BY grp ORDER BY grp")
        with self.sql.transaction(write=False) as db:
            rows = db.execute(query, tuple(params)).fetchall()
        found = []
        for grp, *sums in rows:  # PostgreSQL sums BIGINTs as numeric (Decimal)
            n, errors, abandoned, prompt, completion = (int(v) for v in sums[:5])
            found.append({by: grp, "requests": n, "errors": errors, "abandoned": abandoned, "prompt_tokens": prompt,
                          "completion_tokens": completion, "total_tokens": prompt + completion,
                          "mean_latency_ms": round(float(sums[5]) / n, 2) if n else 0.0})
        return found

    def prune_usage(self, events_before: str, rollups_before: str) -> None:
        with self.sql.transaction() as db:
            db.execute("DELETE FROM usage_events WHERE at < ?", (events_before,))
            db.execute("DELETE FROM usage_hourly WHERE hour < ?", (rollups_before[:13],))

    # shares

    def share(self, share: Share) -> Share:
        with self.sql.transaction() as db:
            db.execute("DELETE FROM collection_shares WHERE team = ? AND collection = ? AND grantee = ?",
                       (share.team, share.collection, share.grantee))
            db.execute("INSERT INTO collection_shares VALUES (?, ?, ?, ?, ?)",
                       (share.team, share.collection, share.grantee, share.access, now()))
        return share

    def unshare(self, team: str, collection: str, grantee: str) -> None:
        with self.sql.transaction() as db:
            db.execute("DELETE FROM collection_shares WHERE team = ? AND collection = ? AND grantee = ?",
                       (team, collection, grantee))

    def shares(self) -> list[Share]:
        with self.sql.transaction(write=False) as db:
            rows = db.execute("SELECT team, collection, grantee, access FROM collection_shares").fetchall()
        return [Share(*row) for row in rows]
