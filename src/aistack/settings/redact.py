"""Secrets kept out of what aistack prints: passwords inside connection URLs, and values given to
secret-looking fields (keys, passwords, tokens) when a settings error quotes what it got."""

from __future__ import annotations

import re
from typing import Any

MASK = "**********"
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)(?P<password>[^@/\s]+)(?=@)", re.IGNORECASE)
SECRET_WORDS = ("key", "secret", "password", "token", "credential")


def mask_url_passwords(text: str) -> str:
    """postgresql://user:hunter2@db/x -> postgresql://user:**********@db/x"""
    return URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)


def masked(data: Any) -> Any:
    """The same structure, every URL password in its strings masked."""
    if isinstance(data, dict):
        return {k: masked(v) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v) for v in data]
    return mask_url_passwords(data) if isinstance(data, str) else data


def looks_secret(location: tuple[Any, ...]) -> bool:
    return any(word in str(part).lower() for part in location for word in SECRET_WORDS)
