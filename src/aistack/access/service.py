"""The access service: who a Bearer token is (a Principal), and the admin's teams, users and keys.

A token is, in order: one of deploy.admin_keys (every scope, every team), one of server.api_keys
(the default team's bootstrap key), an OIDC/JWT bearer token of `access.oidc.issuer`, or a key
from the access store (`sk-ais-...`). A store key's check is trusted for `access.cache_seconds`
(at most 1 s), so a revoked key stops working on every gateway within a second while a busy key
reads the store about twice a second. For one more such period, a request on the event loop gets
the last answer at once while one worker thread reads the store afresh (a busy key never waits,
nor do sixteen requests each read the store at the moment the answer expires); later than that,
the request waits for the store."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from aistack.access.keys import digest, key_id_from, key_id_of, new_key
from aistack.access.oidc import OidcVerifier, looks_like_jwt
from aistack.access.store import AccessStore, ApiKey, Team, User, now
from aistack.errors import AuthenticationFailed, InvalidRequest, NotFound
from aistack.knowledge.owners import Owners, Share, stored_name
from aistack.principals import (
    ANONYMOUS,
    DEFAULT_TEAM,
    SCOPES,
    Limits,
    USER_SCOPES,
    Principal,
    check_scopes,
    check_team_name,
)

ADMIN = Principal("admin-key", scopes=frozenset(SCOPES))
BOOTSTRAP = Principal("bootstrap", scopes=USER_SCOPES)
CACHE_LIMIT = 10_000  # entries; past it the cache starts afresh (random tokens cannot grow it without end)
log = logging.getLogger("aistack.access")


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    key: ApiKey
    secret: str


class WouldBlock(Exception):
    """Raised by a non-blocking check that needs the store: call again in a worker thread."""


def _matches_any(token: str, keys: list[str]) -> bool:
    given = token.encode()
    return any(hmac.compare_digest(given, key.encode()) for key in keys)


def fingerprint(token: str) -> str:
    return digest(token)[:8]


class AccessService:
    def __init__(self, store: AccessStore, api_keys: list[str], admin_keys: list[str], mode: str = "auto",
                 cache_seconds: float = 0.5, clock=time.monotonic,
                 collection_exists: Callable[[str], bool] | None = None, oidc: OidcVerifier | None = None):
        """`collection_exists` (by the vector store's name) keeps shares to real collections."""
        self.store = store
        self.oidc = oidc
        self.collection_exists = collection_exists
        self.api_keys = [k.strip() for k in api_keys if k.strip()]
        self.admin_keys = [k.strip() for k in admin_keys if k.strip()]
        self.mode = mode
        self.cache_seconds = cache_seconds
        self.clock = clock
        # digest -> (fresh until, principal or refusal, last moment it may be given while refreshed)
        self._cache: dict[str, tuple[float, Principal | str, float]] = {}
        self._lock = threading.Lock()
        self._store_has_keys: tuple[float, bool, float] = (-1.0, False, -1.0)  # as a cache entry
        self._refreshing: set[str] = set()  # what a refresher thread reads now ("" is has_keys)
        self._refresher = ThreadPoolExecutor(2, thread_name_prefix="aistack-access-refresh")

    def _refresh_soon(self, what: str, refresh: Callable[[], object]) -> None:
        """Read `what` afresh in a refresher thread, once at a time; meanwhile callers get the last answer."""
        with self._lock:
            if what in self._refreshing:
                return
            self._refreshing.add(what)

        def run() -> None:
            try:
                refresh()
            except Exception as exc:  # noqa: BLE001 - the store is down: the next request past the grace waits
                log.warning("access check not refreshed: %s", type(exc).__name__)
            finally:
                with self._lock:
                    self._refreshing.discard(what)

        self._refresher.submit(run)

    def close(self) -> None:
        self._refresher.shutdown(wait=False, cancel_futures=True)

    # -- authentication (blocking: the gateway calls it in a worker thread) ---------------------

    def required(self, blocking: bool = True) -> bool:
        """Whether a request without a key is refused."""
        if self.mode != "auto":
            return self.mode == "keys"
        if self.api_keys or self.oidc is not None:
            return True
        until, has, last = self._store_has_keys
        moment = self.clock()
        if moment < until:
            return has
        if not blocking and moment < last:
            self._refresh_soon("", self._read_has_keys)
            return has
        if not blocking:
            raise WouldBlock
        return self._read_has_keys()

    def _read_has_keys(self) -> bool:
        has = self.store.has_keys()
        until = self.clock() + self.cache_seconds
        self._store_has_keys = (until, has, until + self.cache_seconds)
        return has

    def can_start(self) -> None:
        """Fail closed: `server.auth: keys` with no key anywhere refuses to start, saying why."""
        if self.mode == "keys" and not (self.api_keys or self.admin_keys or self.oidc or self.store.has_keys()):
            raise InvalidRequest(
                "server.auth is 'keys' (the production profile) but no key exists: put keys in server.api_keys_file, "
                "create one with `aistack keys create --team <team>`, or set server.auth: none to run without "
                "authentication on purpose")

    def authenticate(self, token: str | None, client: str | None = None, blocking: bool = True) -> Principal:
        """The principal a request's Bearer token names; no token is anonymous where that is
        allowed. With `blocking=False`, what needs the store raises WouldBlock instead."""
        token = (token or "").strip()
        if token and self.admin_keys and _matches_any(token, self.admin_keys):
            return replace(ADMIN, name=f"admin-key:{fingerprint(token)}", client=client)
        if self.mode == "none" or not self.required(blocking):  # open: whatever token comes is ignored
            return replace(ANONYMOUS, client=client)
        if not token:
            raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer <key>'.")
        if _matches_any(token, self.api_keys):
            return replace(BOOTSTRAP, name=f"bootstrap:{fingerprint(token)}", client=client)
        found = self._cached(token, blocking)
        if isinstance(found, str):
            raise AuthenticationFailed(found)
        return found  # the cached principal itself: only anonymous use is counted by address

    def _cached(self, token: str, blocking: bool) -> Principal | str:
        """A stored key's or an OIDC token's principal (or why not), trusted for cache_seconds."""
        hashed = digest(token)
        moment = self.clock()
        cached = self._cache.get(hashed)
        if cached and moment < cached[0]:
            return cached[1]
        if cached and not blocking and moment < cached[2]:
            self._refresh_soon(hashed, lambda: self._look_up(token, hashed))
            return cached[1]
        if not blocking:
            raise WouldBlock
        return self._look_up(token, hashed)

    def _look_up(self, token: str, hashed: str) -> Principal | str:
        """Read the store (or verify the JWT), and keep the answer for cache_seconds."""
        moment = self.clock()
        until = moment + self.cache_seconds
        last = until + self.cache_seconds
        if self.oidc is not None and looks_like_jwt(token):
            try:
                found, expires = self.oidc.verify(token)
                result: Principal | str = self._with_team(found)
                ends = moment + max(0.0, expires - time.time())  # never given past its exp
                until, last = min(until, ends), min(last, ends)
            except AuthenticationFailed as exc:
                result = exc.message
        else:
            key_id = key_id_of(token)
            result = self._check(key_id, hashed) if key_id else "Incorrect API key provided."
        with self._lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[hashed] = (until, result, last)
        return result

    def _with_team(self, found: Principal) -> Principal:
        """An OIDC caller gets its team's model list and quotas, when the store has the team."""
        try:
            team = self.store.team(found.team)
        except NotFound:
            return found
        models = frozenset(team.models) if team.models is not None else None
        return replace(found, models=models, team_limits=team.limits)

    def _check(self, key_id: str, hashed: str) -> Principal | str:
        key = self.store.key(key_id)
        if key is None or not hmac.compare_digest(key.digest, hashed):
            return "Incorrect API key provided."
        if key.revoked_at:
            return "This API key was revoked" + (": use the key that replaced it." if key.replaced_by else ".")
        if key.expires_at and key.expires_at <= now():
            return f"This API key expired at {key.expires_at}."
        try:
            team = self.store.team(key.team)
        except Exception:  # noqa: BLE001 - a key whose team is gone names nobody
            return "Incorrect API key provided."
        models = _narrowest(key.models, team.models)
        return Principal(f"key:{key.id}", team=key.team, scopes=frozenset(key.scopes),
                         models=frozenset(models) if models is not None else None, key_id=key.id, user=key.user,
                         limits=key.limits, team_limits=team.limits)

    # -- teams, users, keys (the admin's; blocking) ---------------------------------------------

    def create_team(self, caller: Principal, name: str, models: list[str] | None = None,
                    limits: Limits = Limits()) -> Team:
        caller.require("admin")
        check_team_name(name)
        if name == DEFAULT_TEAM:
            raise InvalidRequest(f"'{DEFAULT_TEAM}' is the bootstrap keys' team: pick another name", param="name")
        return self.store.add_team(name, models, _check_limits(limits))

    def teams(self, caller: Principal) -> list[Team]:
        caller.require("admin")
        return self.store.teams()

    def update_team(self, caller: Principal, name: str, models: list[str] | None, limits: Limits) -> Team:
        caller.require("admin")
        return self.store.update_team(name, models, _check_limits(limits))

    def delete_team(self, caller: Principal, name: str) -> None:
        caller.require("admin")
        self.store.delete_team(name)

    def create_user(self, caller: Principal, name: str, team: str) -> User:
        caller.require("admin")
        if not name.strip() or len(name) > 128:
            raise InvalidRequest("a user name is 1-128 characters", param="name")
        return self.store.add_user(name, team)

    def users(self, caller: Principal, team: str | None = None) -> list[User]:
        caller.require("admin")
        return self.store.users(team)

    def create_key(self, caller: Principal, team: str | None = None, user: str | None = None,
                   name: str | None = None, scopes: list[str] | None = None, models: list[str] | None = None,
                   expires_in_days: float | None = None, limits: Limits = Limits()) -> IssuedKey:
        """A key of a team (or of a user, in the user's team). Scopes default to a user's."""
        caller.require("admin")
        if user is not None:
            member = self.store.user(user)
            if team is not None and team != member.team:
                raise InvalidRequest(f"user '{user}' is in team '{member.team}', not '{team}'", param="team")
            team = member.team
        if team is None:
            raise InvalidRequest("a key belongs to a team: give --team (or --user)", param="team")
        chosen = sorted(check_scopes(scopes) if scopes else USER_SCOPES)
        if expires_in_days is not None and expires_in_days <= 0:
            raise InvalidRequest("expires_in_days must be more than 0", param="expires_in_days")
        expires = (datetime.now(timezone.utc) + timedelta(days=expires_in_days)).isoformat(timespec="milliseconds") \
            if expires_in_days is not None else None
        key_id, secret = new_key()
        record = ApiKey(key_id, digest(secret), secret[-4:], name, team, user, chosen, models or None, now(), expires,
                        limits=_check_limits(limits))
        self.store.add_key(record)
        self._store_has_keys = (-1.0, True, -1.0)
        return IssuedKey(record, secret)

    def keys(self, caller: Principal, team: str | None = None) -> list[ApiKey]:
        caller.require("admin")
        return self.store.keys(team)

    def revoke_key(self, caller: Principal, key_id: str) -> ApiKey:
        caller.require("admin")
        return self.store.revoke(key_id_from(key_id))

    def rotate_key(self, caller: Principal, key_id: str) -> IssuedKey:
        """A new key with the old one's team, user, scopes, models and limits; the old one stops now."""
        caller.require("admin")
        old = self.store.key(key_id_from(key_id))
        if old is None or old.revoked_at:
            raise NotFound(f"no active key '{key_id}'", param="key")
        new_id, secret = new_key()
        record = replace(old, id=new_id, digest=digest(secret), last4=secret[-4:], created_at=now(),
                         revoked_at=None, replaced_by=None)
        self.store.rotate(old.id, record)
        return IssuedKey(record, secret)

    # -- usage (the ledger's rollups) -----------------------------------------------------------

    def usage(self, caller: Principal, since: str | None = None, until: str | None = None, team: str | None = None,
              key: str | None = None, model: str | None = None, by: str = "day") -> list[dict]:
        """Requests and tokens from the hourly rollups, summed by hour, day, month, team, key or model."""
        caller.require("admin")
        if by not in ("hour", "day", "month", "team", "key", "model"):
            raise InvalidRequest("by is one of hour, day, month, team, key, model", param="by")
        return self.store.usage(since_of(since), since_of(until) if until else None, team,
                                key_id_from(key) if key else None, model, by)

    # -- collection shares (the owning team's) --------------------------------------------------

    def _owned(self, caller: Principal, collection: str) -> tuple[str, str]:
        """(team, name) of a collection the caller's team owns (an admin: any); else NotFound."""
        caller.require("rag:write")
        team, name = Owners().parse(caller, collection)
        exists = self.collection_exists is None or self.collection_exists(stored_name(team, name))
        if not caller.sees_team(team) or not exists:
            raise NotFound(f"Collection '{collection}' not found.", param="collection")
        return team, name

    def share(self, caller: Principal, collection: str, grantee: str, access: str = "read") -> Share:
        """Let another team read (or add documents to) one of the caller's team's collections."""
        team, name = self._owned(caller, collection)
        if access not in ("read", "write"):
            raise InvalidRequest("access is read or write", param="access")
        check_team_name(grantee)
        if grantee != DEFAULT_TEAM:
            self.store.team(grantee)  # an unknown team is a 404
        return self.store.share(Share(team, name, grantee, access))

    def unshare(self, caller: Principal, collection: str, grantee: str) -> None:
        team, name = self._owned(caller, collection)
        self.store.unshare(team, name, grantee)

    def shares_of(self, caller: Principal, collection: str) -> list[Share]:
        team, name = self._owned(caller, collection)
        return [s for s in self.store.shares() if s.team == team and s.collection == name]

    def shares(self) -> list[Share]:
        """Every share (the knowledge service resolves names with them)."""
        return self.store.shares()


def since_of(value: str | None, default_days: int = 30) -> str:
    """An ISO time from `7d`, `24h`, a date or a time (UTC); empty: `default_days` ago."""
    now = datetime.now(timezone.utc)
    if not value:
        return (now - timedelta(days=default_days)).isoformat()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[:-1].isdigit() and value[-1] in units:
        return (now - timedelta(**{units[value[-1]]: int(value[:-1])})).isoformat()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"'{value}' is not a time: use 7d, 24h, 2026-11-01 or 2026-11-01T08:00",
                             param="since") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()


def _narrowest(key_models: list[str] | None, team_models: list[str] | None) -> list[str] | None:
    if key_models is None:
        return team_models
    if team_models is None:
        return key_models
    return [m for m in key_models if m in team_models]


def _check_limits(limits: Limits) -> Limits:
    if limits.budget_period not in (None, "day", "month"):
        raise InvalidRequest("budget_period is day or month", param="budget_period")
    if limits.token_budget is not None and limits.budget_period is None:
        limits = replace(limits, budget_period="month")
    for name in ("requests_per_minute", "tokens_per_minute", "token_budget"):
        value = getattr(limits, name)
        if value is not None and value <= 0:
            raise InvalidRequest(f"{name} must be more than 0", param=name)
    return limits
