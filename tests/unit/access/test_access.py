"""The access service on its SQLite store: keys shown once and stored as hashes, rotation,
revocation seen within the cache time, expiry, scopes, model lists, and who sees which collection."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from aistack.access.service import AccessService, WouldBlock
from aistack.access.store import AccessStore
from aistack.principals import Limits
from aistack.errors import AuthenticationFailed, Conflict, Forbidden, InvalidRequest, ModelNotFound, NotFound
from aistack.knowledge.owners import Owners, Share, owner_of, stored_name
from aistack.principals import ANONYMOUS, OPERATOR, Principal

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access(tmp_path: Path, clock: Clock) -> AccessService:
    service = AccessService(AccessStore(tmp_path / "access.db"), [], ["the-admin-key"], cache_seconds=0.5, clock=clock)
    service.create_team(OPERATOR, "red", models=["smollm2", "other"])
    service.create_team(OPERATOR, "blue")
    return service


def test_a_key_is_shown_once_stored_as_a_hash_and_names_its_team(access: AccessService, tmp_path: Path) -> None:
    issued = access.create_key(OPERATOR, team="red", name="ci", scopes=["chat"], models=["smollm2"])
    assert issued.secret.startswith("sk-ais-") and len(issued.secret) == 59
    rows = sqlite3.connect(tmp_path / "access.db").execute("SELECT * FROM api_keys").fetchall()
    assert issued.secret not in repr(rows) and issued.key.digest in repr(rows)
    assert issued.key.as_json()["key"] == f"sk-ais-{issued.key.id}...{issued.secret[-4:]}"
    assert "digest" not in issued.key.as_json()
    who = access.authenticate(issued.secret, "10.0.0.9")
    assert (who.team, who.scopes, who.models, who.key_id) == ("red", frozenset({"chat"}), frozenset({"smollm2"}),
                                                              issued.key.id)
    who.require("chat")
    with pytest.raises(Forbidden, match="rag:read"):
        who.require("rag:read")
    with pytest.raises(ModelNotFound):
        who.require_model("other")


def test_a_key_of_another_shape_or_a_changed_one_is_refused(access: AccessService) -> None:
    issued = access.create_key(OPERATOR, team="red")
    tampered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    for token in (tampered, "sk-ais-00000000-" + "x" * 43, "random-token", "Bearer"):
        with pytest.raises(AuthenticationFailed):
            access.authenticate(token)


def test_revoking_stops_a_key_within_the_cache_time_and_rotation_hands_over(access: AccessService,
                                                                            clock: Clock) -> None:
    issued = access.create_key(OPERATOR, team="blue", user=None)
    assert access.authenticate(issued.secret).team == "blue"
    rotated = access.rotate_key(OPERATOR, issued.key.id)
    assert rotated.key.scopes == issued.key.scopes and rotated.secret != issued.secret
    assert access.authenticate(issued.secret).team == "blue"  # still cached
    clock.now += 0.6
    with pytest.raises(AuthenticationFailed, match="replaced it"):
        access.authenticate(issued.secret)
    assert access.authenticate(rotated.secret).team == "blue"
    access.revoke_key(OPERATOR, f"sk-ais-{rotated.key.id}...{rotated.secret[-4:]}")  # the table's name for it
    clock.now += 0.6
    with pytest.raises(AuthenticationFailed, match="revoked"):
        access.authenticate(rotated.secret)
    with pytest.raises(AuthenticationFailed, match="Missing"):  # the last key revoked does not open the door
        access.authenticate(None)
    with pytest.raises(NotFound):
        access.rotate_key(OPERATOR, rotated.key.id)


def test_an_expired_key_is_refused(access: AccessService, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = access.create_key(OPERATOR, team="red", expires_in_days=1)
    assert access.authenticate(issued.secret).team == "red"
    monkeypatch.setattr("aistack.access.service.now", lambda: "2999-01-01T00:00:00.000+00:00")
    access._cache.clear()
    with pytest.raises(AuthenticationFailed, match="expired"):
        access.authenticate(issued.secret)


def test_a_cached_check_needs_no_thread_and_an_uncached_one_says_so(access: AccessService) -> None:
    issued = access.create_key(OPERATOR, team="red")
    with pytest.raises(WouldBlock):
        access.authenticate(issued.secret, blocking=False)
    access.authenticate(issued.secret)
    assert access.authenticate(issued.secret, blocking=False).team == "red"


def test_an_expired_check_answers_at_once_while_one_thread_reads_the_store(access: AccessService,
                                                                           clock: Clock) -> None:
    import threading

    issued = access.create_key(OPERATOR, team="red")
    access.authenticate(issued.secret)
    access.revoke_key(OPERATOR, issued.key.id)
    reads, reading = [], threading.Event()
    real = access.store.key

    def slow_read(key_id: str):  # the store answers once the sixteen requests are in
        reads.append(key_id)
        reading.wait(5)
        return real(key_id)

    access.store.key = slow_read
    clock.now += 0.6  # past the cache time, within the grace: the last answer, and one read afresh
    answers = [access.authenticate(issued.secret, blocking=False) for _ in range(16)]
    assert all(a.team == "red" for a in answers)
    reading.set()
    deadline = time.monotonic() + 5
    while access._refreshing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(reads) == 1  # sixteen requests, one store read
    with pytest.raises(AuthenticationFailed, match="revoked"):
        access.authenticate(issued.secret, blocking=False)
    clock.now += 2.0  # past the grace: a request waits for the store
    with pytest.raises(WouldBlock):
        access.authenticate(issued.secret, blocking=False)


def test_anonymous_use_ends_once_a_key_exists_and_admin_keys_see_everything(access: AccessService,
                                                                             clock: Clock) -> None:
    assert access.authenticate(None, "10.1.2.3").anonymous  # no key yet: open, limited by address
    access.create_key(OPERATOR, team="red")
    with pytest.raises(AuthenticationFailed, match="Missing API key"):
        access.authenticate(None)
    admin = access.authenticate("the-admin-key")
    assert admin.admin and admin.name.startswith("admin-key:") and "the-admin-key" not in admin.name


def test_only_an_admin_manages_teams_and_keys(access: AccessService) -> None:
    user = access.authenticate(access.create_key(OPERATOR, team="red").secret)
    for action in (lambda: access.create_team(user, "green"), lambda: access.create_key(user, team="red"),
                   lambda: access.keys(user), lambda: access.teams(user)):
        with pytest.raises(Forbidden, match="admin"):
            action()
    with pytest.raises(Conflict):
        access.create_team(OPERATOR, "red")
    with pytest.raises(InvalidRequest):
        access.create_team(OPERATOR, "Bad_Name")
    with pytest.raises(InvalidRequest, match="scopes"):
        access.create_key(OPERATOR, team="red", scopes=["everything"])
    with pytest.raises(NotFound):
        access.create_key(OPERATOR, team="nobody")
    with pytest.raises(Conflict, match="revoke"):
        access.delete_team(OPERATOR, "red")


def test_a_key_of_a_user_is_in_the_users_team_and_limits_are_checked(access: AccessService) -> None:
    access.create_user(OPERATOR, "ana", "blue")
    issued = access.create_key(OPERATOR, user="ana", limits=Limits(token_budget=1000))
    assert issued.key.team == "blue" and issued.key.limits.budget_period == "month"
    assert access.authenticate(issued.secret).identity == "user:ana"
    with pytest.raises(InvalidRequest):
        access.create_key(OPERATOR, user="ana", team="red")
    with pytest.raises(InvalidRequest):
        access.create_key(OPERATOR, team="red", limits=Limits(tokens_per_minute=-1))


def test_a_teams_model_list_narrows_its_keys(access: AccessService) -> None:
    wide = access.authenticate(access.create_key(OPERATOR, team="red").secret)
    assert wide.models == frozenset({"smollm2", "other"})
    narrow = access.authenticate(access.create_key(OPERATOR, team="red", models=["smollm2", "third"]).secret)
    assert narrow.models == frozenset({"smollm2"})


def test_collection_names_per_team_and_shares(access: AccessService) -> None:
    red = Principal("r", team="red")
    blue = Principal("b", team="blue")
    assert stored_name("red", "docs") == "red__docs" and owner_of("red__docs") == ("red", "docs")
    assert owner_of("docs") == ("default", "docs") and stored_name("default", "docs") == "docs"
    owners = Owners(access.shares)
    assert owners.resolve(red, "docs") == "red__docs"
    for ref in ("red:docs", "default:docs", "docs"):
        if ref == "docs":
            continue
        with pytest.raises(NotFound):
            owners.resolve(blue, ref)
    access.share(red, "docs", "blue", "read")
    assert owners.resolve(blue, "red:docs") == "red__docs"
    with pytest.raises(NotFound):
        owners.resolve(blue, "red:docs", access="write")
    with pytest.raises(NotFound):
        access.share(blue, "red:docs", "blue", "write")  # only the owner shares
    assert owners.visible(blue, ["red__docs", "red__secret", "blue__own", "docs"]) == {
        "red__docs": "red:docs", "blue__own": "own"}
    assert access.shares_of(red, "docs") == [Share("red", "docs", "blue", "read")]
    access.unshare(red, "docs", "blue")
    with pytest.raises(NotFound):
        owners.resolve(blue, "red:docs")
    assert Owners().visible(OPERATOR, ["red__docs", "docs"]) == {"red__docs": "red:docs", "docs": "docs"}
    assert Owners().visible(ANONYMOUS, ["red__docs", "docs"]) == {"docs": "docs"}


def test_the_ledger_rolls_requests_up_by_hour_and_reports_read_only_the_rollups(tmp_path: Path) -> None:
    import anyio

    from aistack.access.ledger import Ledger

    store = AccessStore(tmp_path / "ledger.db")
    ledger = Ledger(store)
    entries = [
        {"path": "/v1/chat/completions", "principal": "key:aa", "key_id": "aa", "team": "red", "model": "m",
         "status": 200, "prompt_tokens": 7, "completion_tokens": 3, "latency_ms": 10.0, "stream": True},
        {"path": "/v1/chat/completions", "principal": "key:aa", "key_id": "aa", "team": "red", "model": "m",
         "status": 200, "finish_reason": "cancelled", "streamed_chunks": 4, "latency_ms": 30.0, "stream": True},
        {"path": "/v1/embeddings", "principal": "key:bb", "key_id": "bb", "team": "blue", "model": "e",
         "status": 400, "latency_ms": 2.0},
        {"path": "/health", "principal": "anonymous", "status": 200},  # not an API call
        {"path": "/v1/models", "status": 401},  # refused before anyone was known
    ]
    for entry in entries:
        ledger.record(entry)
    assert anyio.run(ledger.flush) == 3
    by_team = {r["team"]: r for r in store.usage("2000-01-01", by="team")}
    assert by_team["red"]["requests"] == 2 and by_team["red"]["abandoned"] == 1
    assert by_team["red"]["prompt_tokens"] == 7 and by_team["red"]["completion_tokens"] == 3 + 4
    assert by_team["red"]["mean_latency_ms"] == 20.0
    assert by_team["blue"]["errors"] == 1 and by_team["blue"]["total_tokens"] == 0
    assert [r["requests"] for r in store.usage("2000-01-01", team="red", by="day")] == [2]
    assert store.usage("2999-01-01", by="day") == []
    access = AccessService(store, [], [])
    with pytest.raises(Forbidden):
        access.usage(Principal("k", team="red"))
    assert {r["key"] for r in access.usage(OPERATOR, since="1d", by="key")} == {"aa", "bb"}
    with pytest.raises(InvalidRequest, match="not a time"):
        access.usage(OPERATOR, since="yesterday")
