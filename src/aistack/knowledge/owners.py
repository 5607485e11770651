"""Which team a collection belongs to, and what a caller may call it.

A team's collections live in the store as `<team>__<name>`; the default team's (bootstrap keys,
anonymous use, and every collection made before teams existed) keep their plain names. A caller
names its own team's collections plainly and another team's as `<team>:<name>` (a colon: it sits
in URL paths unescaped), which it may use only when that team shared it (or it is an admin). Anything else is "no such collection": a 404
that says nothing of whether another team has one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aistack.errors import InvalidRequest, NotFound
from aistack.knowledge.collections import check_name
from aistack.principals import DEFAULT_TEAM, TEAM_NAME, Principal, check_team_name

SEP = "__"
ACCESS = ("read", "write")


@dataclass(frozen=True)
class Share:
    team: str  # the owner
    collection: str  # the owner's name for it
    grantee: str  # the team it is shared with
    access: str  # read | write


Shares = Callable[[], list[Share]]  # every share (read off the event loop; the access store caches nothing)


def stored_name(team: str, name: str) -> str:
    return name if team == DEFAULT_TEAM else f"{team}{SEP}{name}"


def owner_of(stored: str) -> tuple[str, str]:
    """(team, name) of a collection as the store names it."""
    team, sep, name = stored.partition(SEP)
    if sep and TEAM_NAME.fullmatch(team) and name:
        return team, name
    return DEFAULT_TEAM, stored


def check_new_name(name: str) -> str:
    check_name(name)
    if SEP in name:
        raise InvalidRequest(f"Invalid collection name '{name}': '{SEP}' is reserved (it separates a team from its "
                             "collections).", param="collection")
    return name


class Owners:
    """Resolves a caller's collection names to the store's, with its team's shares."""

    def __init__(self, shares: Shares | None = None):
        self.shares = shares or (lambda: [])

    def parse(self, caller: Principal, ref: str) -> tuple[str, str]:
        team, colon, name = ref.partition(":")
        if not colon:
            team, name = caller.team, ref
        check_team_name(team)
        check_name(name)
        return team, name

    def resolve(self, caller: Principal, ref: str, access: str = "read") -> str:
        """The store's name for `ref`, if the caller may use it this way; else NotFound."""
        team, name = self.parse(caller, ref)
        if caller.sees_team(team) or self._shared(caller, team, name, access):
            return stored_name(team, name)
        raise NotFound(f"Collection '{ref}' not found.", param="collection")

    def _shared(self, caller: Principal, team: str, name: str, access: str) -> bool:
        return any(s.team == team and s.collection == name and s.grantee == caller.team
                   and (access == "read" or s.access == "write") for s in self.shares())

    def visible(self, caller: Principal, stored: list[str]) -> dict[str, str]:
        """{store's name: the caller's name} of the collections the caller may read."""
        shared = {(s.team, s.collection) for s in self.shares() if s.grantee == caller.team}
        seen = {}
        for name in stored:
            team, own = owner_of(name)
            if team == caller.team:
                seen[name] = own
            elif caller.admin or (team, own) in shared:
                seen[name] = f"{team}:{own}"
        return seen

    def label(self, caller: Principal, stored: str) -> str:
        team, own = owner_of(stored)
        return own if team == caller.team else f"{team}:{own}"
