"""Teams, users and keys for the CLI: a running gateway's /v1/admin API (with client.admin_key,
else client.api_key: a key with the `admin` scope), or the access service in process (the
operator: this machine's data home is theirs). Both answer the same JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from aistack.principals import Limits
from aistack.client.http import Gateway
from aistack.client.local import Local, guard


class AccessClient(Protocol):
    def teams(self) -> list[dict[str, Any]]: ...
    def create_team(self, name: str, models: list[str] | None, limits: Limits) -> dict[str, Any]: ...
    def update_team(self, name: str, models: list[str] | None, limits: Limits) -> dict[str, Any]: ...
    def delete_team(self, name: str) -> None: ...
    def users(self, team: str | None) -> list[dict[str, Any]]: ...
    def create_user(self, name: str, team: str) -> dict[str, Any]: ...
    def keys(self, team: str | None) -> list[dict[str, Any]]: ...
    def create_key(self, **options: Any) -> dict[str, Any]: ...
    def rotate_key(self, key: str) -> dict[str, Any]: ...
    def revoke_key(self, key: str) -> dict[str, Any]: ...
    def usage(self, **query: str | None) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


def _limits(limits: Limits) -> dict[str, Any]:
    return {k: v for k, v in asdict(limits).items() if v is not None}


class GatewayAccess(Gateway):
    def teams(self) -> list[dict[str, Any]]:
        return self.call("GET", "/v1/admin/teams")["data"]

    def create_team(self, name: str, models: list[str] | None, limits: Limits) -> dict[str, Any]:
        return self.call("POST", "/v1/admin/teams", json={"name": name, "models": models, **_limits(limits)})

    def update_team(self, name: str, models: list[str] | None, limits: Limits) -> dict[str, Any]:
        return self.call("PATCH", f"/v1/admin/teams/{name}", json={"models": models, **_limits(limits)})

    def delete_team(self, name: str) -> None:
        self.call("DELETE", f"/v1/admin/teams/{name}")

    def users(self, team: str | None) -> list[dict[str, Any]]:
        return self.call("GET", "/v1/admin/users", params={"team": team} if team else {})["data"]

    def create_user(self, name: str, team: str) -> dict[str, Any]:
        return self.call("POST", "/v1/admin/users", json={"name": name, "team": team})

    def keys(self, team: str | None) -> list[dict[str, Any]]:
        return self.call("GET", "/v1/admin/keys", params={"team": team} if team else {})["data"]

    def create_key(self, **options: Any) -> dict[str, Any]:
        limits = options.pop("limits", Limits())
        return self.call("POST", "/v1/admin/keys", json={**options, **_limits(limits)})

    def rotate_key(self, key: str) -> dict[str, Any]:
        return self.call("POST", f"/v1/admin/keys/{key}/rotate")

    def revoke_key(self, key: str) -> dict[str, Any]:
        return self.call("POST", f"/v1/admin/keys/{key}/revoke")

    def usage(self, **query: str | None) -> list[dict[str, Any]]:
        return self.call("GET", "/v1/usage", params={k: v for k, v in query.items() if v})["data"]


class LocalAccess(Local):
    @property
    def service(self) -> Any:
        return guard(lambda: self.container.access)

    def teams(self) -> list[dict[str, Any]]:
        return [t.as_json() for t in guard(lambda: self.service.teams(self.caller))]

    def create_team(self, name: str, models: list[str] | None, limits: Limits) -> dict[str, Any]:
        return guard(lambda: self.service.create_team(self.caller, name, models, limits)).as_json()

    def update_team(self, name: str, models: list[str] | None, limits: Limits) -> dict[str, Any]:
        return guard(lambda: self.service.update_team(self.caller, name, models, limits)).as_json()

    def delete_team(self, name: str) -> None:
        guard(lambda: self.service.delete_team(self.caller, name))

    def users(self, team: str | None) -> list[dict[str, Any]]:
        return [u.as_json() for u in guard(lambda: self.service.users(self.caller, team))]

    def create_user(self, name: str, team: str) -> dict[str, Any]:
        return guard(lambda: self.service.create_user(self.caller, name, team)).as_json()

    def keys(self, team: str | None) -> list[dict[str, Any]]:
        return [k.as_json() for k in guard(lambda: self.service.keys(self.caller, team))]

    def create_key(self, **options: Any) -> dict[str, Any]:
        issued = guard(lambda: self.service.create_key(self.caller, **options))
        return {**issued.key.as_json(), "secret": issued.secret}

    def rotate_key(self, key: str) -> dict[str, Any]:
        issued = guard(lambda: self.service.rotate_key(self.caller, key))
        return {**issued.key.as_json(), "secret": issued.secret}

    def revoke_key(self, key: str) -> dict[str, Any]:
        return guard(lambda: self.service.revoke_key(self.caller, key)).as_json()

    def usage(self, **query: str | None) -> list[dict[str, Any]]:
        return guard(lambda: self.service.usage(self.caller, **query))
