"""API keys as aistack issues them: `sk-ais-<8 hex id>-<43 random characters>`.

The id is public: tables, logs and the ledger name a key by `sk-ais-<id>...<last 4>`. Only a
SHA-256 of the whole key is stored (keys are 256 random bits, so a slow hash buys nothing), and a
presented key is found by its id, then compared with the hash in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "sk-ais-"
KEY = re.compile(r"sk-ais-([0-9a-f]{8})-([A-Za-z0-9_-]{43})")


def new_key() -> tuple[str, str]:
    """(key id, the key): the key is shown once and never stored."""
    key_id = secrets.token_hex(4)
    return key_id, f"{PREFIX}{key_id}-{secrets.token_urlsafe(32)}"


def key_id_of(token: str) -> str | None:
    """The id of a token shaped like one of ours, else None."""
    found = KEY.fullmatch(token)
    return found.group(1) if found else None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)


def public_name(key_id: str, last4: str) -> str:
    return f"{PREFIX}{key_id}...{last4}"


def key_id_from(value: str) -> str:
    """A key's id from what a table shows (`sk-ais-1a2b3c4d...wxyz`), the id itself, or the key."""
    value = value.strip()
    if value.startswith(PREFIX):
        value = value[len(PREFIX):].split("-")[0].split(".")[0]
    return value
