"""Which snapshots prune keeps: the newest of each of the last `daily` days that have one, and
the newest of each of the last `weekly` ISO weeks that have one (grandfather-father-son)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


def _newest_per(items: list[tuple[datetime, T]], bucket: Callable[[datetime], Hashable], count: int) -> list[T]:
    kept: list[T] = []
    seen: set[Hashable] = set()
    for when, item in sorted(items, key=lambda pair: pair[0], reverse=True):
        key = bucket(when)
        if key in seen:
            continue
        if len(seen) == count:
            break
        seen.add(key)
        kept.append(item)
    return kept


def to_keep(items: list[tuple[datetime, T]], daily: int, weekly: int) -> set[T]:
    days = _newest_per(items, lambda when: when.date(), daily)
    weeks = _newest_per(items, lambda when: when.isocalendar()[:2], weekly)
    return set(days) | set(weeks)
