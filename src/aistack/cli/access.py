"""`aistack teams | users | keys ...`: who may use the gateway, and how much. In process (the
operator, on the gateway's machine) or with `--url` through a gateway's admin API."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Column, Table

from aistack.principals import Limits
from aistack.cli.common import client_for, console, print_json, settings, using
from aistack.cli.rag import JSON, URL
from aistack.client.access import GatewayAccess, LocalAccess

teams_app = typer.Typer(help="Teams: who owns collections and runs, with their model lists and quotas.",
                        invoke_without_command=True)
users_app = typer.Typer(help="Users: members of a team, who keys can name.", invoke_without_command=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, rotate, revoke.", invoke_without_command=True)

MODELS = typer.Option(None, "--model", help="A model its keys may use (repeatable). Default: any.")
RPM = typer.Option(None, "--rpm", help="Requests per minute.")
TPM = typer.Option(None, "--tpm", help="Tokens per minute.")
BUDGET = typer.Option(None, "--budget", help="Tokens per period; past it, 429 insufficient_quota.")
PERIOD = typer.Option(None, "--period", help="The budget's period: day or month (default).")


def _admin_client(url: str | None) -> Any:
    """Over HTTP with client.admin_key if set, else client.api_key (a key with the `admin` scope)."""
    config = settings()
    admin = config.client.admin_key.get_secret_value() if config.client.admin_key else None
    return client_for(url, lambda u, key: GatewayAccess(u, admin or key), LocalAccess)


def with_access(url: str | None, action: Any) -> Any:
    return using(_admin_client(url), action)


def _limits(rpm: float | None, tpm: float | None, budget: int | None, period: str | None) -> Limits:
    return Limits(rpm, tpm, budget, period)


def _or_dash(value: Any) -> str:
    return "-" if value is None else ", ".join(value) if isinstance(value, list) else str(value)


@teams_app.callback()
def teams(ctx: typer.Context, url: str = URL, json: bool = JSON) -> None:
    """List teams (with a subcommand: create, update or delete one)."""
    if ctx.invoked_subcommand is not None:
        return
    found = with_access(url, lambda c: c.teams())
    if json:
        return print_json(found)
    table = Table("team", "models", "req/min", "tokens/min", "budget", "period", "created")
    for t in found:
        table.add_row(t["name"], _or_dash(t["models"]), _or_dash(t["requests_per_minute"]),
                      _or_dash(t["tokens_per_minute"]), _or_dash(t["token_budget"]), _or_dash(t["budget_period"]),
                      t["created_at"][:16])
    console.print(table)


@teams_app.command("create")
def create_team(name: str, models: list[str] = MODELS, rpm: float = RPM, tpm: float = TPM, budget: int = BUDGET,
                period: str = PERIOD, url: str = URL, json: bool = JSON) -> None:
    """Make a team."""
    made = with_access(url, lambda c: c.create_team(name, models or None, _limits(rpm, tpm, budget, period)))
    print_json(made) if json else console.print(f"team {made['name']} created")


@teams_app.command("update")
def update_team(name: str, models: list[str] = MODELS, rpm: float = RPM, tpm: float = TPM, budget: int = BUDGET,
                period: str = PERIOD, url: str = URL, json: bool = JSON) -> None:
    """Set a team's model list and quotas (what is not given is cleared)."""
    made = with_access(url, lambda c: c.update_team(name, models or None, _limits(rpm, tpm, budget, period)))
    print_json(made) if json else console.print(f"team {made['name']} updated")


@teams_app.command("delete")
def delete_team(name: str, url: str = URL) -> None:
    """Delete a team with no live keys (its collections stay, owned by nobody who can reach them)."""
    with_access(url, lambda c: c.delete_team(name))
    console.print(f"team {name} deleted")


@users_app.callback()
def users(ctx: typer.Context, team: str = typer.Option(None, "--team"), url: str = URL, json: bool = JSON) -> None:
    """List users (with a subcommand: create one)."""
    if ctx.invoked_subcommand is not None:
        return
    found = with_access(url, lambda c: c.users(team))
    if json:
        return print_json(found)
    table = Table("user", "team", "created")
    for u in found:
        table.add_row(u["name"], u["team"], u["created_at"][:16])
    console.print(table)


@users_app.command("create")
def create_user(name: str, team: str = typer.Option(..., "--team"), url: str = URL, json: bool = JSON) -> None:
    """Add a user to a team."""
    made = with_access(url, lambda c: c.create_user(name, team))
    print_json(made) if json else console.print(f"user {made['name']} created in team {made['team']}")


@keys_app.callback()
def keys(ctx: typer.Context, team: str = typer.Option(None, "--team"), url: str = URL, json: bool = JSON) -> None:
    """List keys by their public names (with a subcommand: create, rotate or revoke one)."""
    if ctx.invoked_subcommand is not None:
        return
    found = with_access(url, lambda c: c.keys(team))
    if json:
        return print_json(found)
    table = Table("name", "team", "user", "scopes", "models", "expires", "state")
    table.columns.insert(0, Column("key", no_wrap=True))
    for k in found:
        state = "revoked" if k["revoked_at"] else "active"
        table.add_row(k["key"], _or_dash(k["name"]), k["team"], _or_dash(k["user"]), ", ".join(k["scopes"]),
                      _or_dash(k["models"]), _or_dash(k["expires_at"] and k["expires_at"][:16]), state)
    console.print(table)


def _show_secret(made: dict[str, Any], json: bool) -> None:
    if json:
        return print_json(made)
    console.print(f"key {made['key']} for team {made['team']} (scopes: {', '.join(made['scopes'])})")
    console.print("Copy it now: it is stored only as a hash and never shown again.")
    typer.echo(made["secret"])


@keys_app.command("create")
def create_key(
    team: str = typer.Option(None, "--team", help="The team it belongs to."),
    user: str = typer.Option(None, "--user", help="A user of the team it names (for audit and run ownership)."),
    name: str = typer.Option(None, "--name", help="A label for tables and logs."),
    scopes: list[str] = typer.Option(None, "--scope", help="A scope (repeatable). Default: chat, embeddings, "
                                     "rag:read, rag:write, agents:run, snapshots."),
    models: list[str] = MODELS,
    expires_in_days: float = typer.Option(None, "--expires-in-days"),
    rpm: float = RPM, tpm: float = TPM, budget: int = BUDGET, period: str = PERIOD,
    url: str = URL, json: bool = JSON,
) -> None:
    """Make a key; it is printed once."""
    made = with_access(url, lambda c: c.create_key(
        team=team, user=user, name=name, scopes=scopes or None, models=models or None,
        expires_in_days=expires_in_days, limits=_limits(rpm, tpm, budget, period)))
    _show_secret(made, json)


@keys_app.command("rotate")
def rotate_key(key: str = typer.Argument(..., help="The key's public name or id (as `aistack keys` shows)."),
               url: str = URL, json: bool = JSON) -> None:
    """Replace a key with a new one of the same team, scopes and limits; the old one stops now."""
    _show_secret(with_access(url, lambda c: c.rotate_key(key)), json)


@keys_app.command("revoke")
def revoke_key(key: str = typer.Argument(..., help="The key's public name or id."), url: str = URL) -> None:
    """Stop a key: every gateway refuses it within access.cache_seconds (at most 1 s)."""
    done = with_access(url, lambda c: c.revoke_key(key))
    console.print(f"key {done['key']} revoked")


def usage(
    team: str = typer.Option(None, "--team"),
    key: str = typer.Option(None, "--key", help="A key's public name or id."),
    model: str = typer.Option(None, "--model"),
    since: str = typer.Option(None, "--since", help="7d, 24h, or a date (UTC). Default: 30 days."),
    until: str = typer.Option(None, "--until"),
    by: str = typer.Option("day", "--by", help="hour, day, month, team, key or model."),
    url: str = URL,
    json: bool = JSON,
) -> None:
    """Requests and tokens from the usage ledger (its hourly rollups), by day, team, key or model."""
    rows = with_access(url, lambda c: c.usage(since=since, until=until, team=team, key=key, model=model, by=by))
    if json:
        return print_json(rows)
    table = Table(by, "requests", "errors", "abandoned", "prompt tokens", "completion tokens", "total tokens",
                  "mean latency ms")
    for r in rows:
        table.add_row(str(r[by]), str(r["requests"]), str(r["errors"]), str(r["abandoned"]), str(r["prompt_tokens"]),
                      str(r["completion_tokens"]), str(r["total_tokens"]), f"{r['mean_latency_ms']:.1f}")
    console.print(table)
