"""`aistack deploy ...` and `aistack rollback`: the gateway's admin API from the command line."""

from __future__ import annotations

import getpass
import shlex
from typing import Any

import httpx
import typer
from rich.table import Table

from aistack.cli.common import console, fail, print_json, settings

app = typer.Typer(help="Slots, blue-green and canary deployments, weights, rollback.", no_args_is_help=True)
URL = typer.Option(None, help="Gateway URL. Default: client.url, else server.host:server.port.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def admin(method: str, path: str, url: str | None, body: dict[str, Any] | None = None) -> Any:
    return _admin(method, path, url, body).json()


def admin_text(path: str, url: str | None) -> str:
    return _admin("GET", path, url, None).text


def _admin(method: str, path: str, url: str | None, body: dict[str, Any] | None) -> httpx.Response:
    config = settings()
    base = (url or config.client.url or f"http://{config.server.host}:{config.server.port}").rstrip("/")
    if config.client.admin_key is None:
        fail("set client.admin_key (or AISTACK_CLIENT__ADMIN_KEY, client.admin_key_file) to one of deploy.admin_keys")
    headers = {"Authorization": f"Bearer {config.client.admin_key.get_secret_value()}",
               "X-Aistack-Actor": getpass.getuser()}  # the audit log's "who"
    try:
        response = httpx.request(method, base + "/v1/admin" + path, json=body, headers=headers, timeout=600)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {base}: {exc}")
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        fail(f"{response.status_code}: {message}")
    return response


def slots_table(slots: list[dict[str, Any]]) -> None:
    table = Table("slot", "state", "weight", "version", "url", "runtime", "in flight")
    for s in slots:
        table.add_row(s["name"], s["state"], f"{s['weight']:g}", s["version"] or "-", s["url"], s["runtime"],
                      str(s.get("inflight", 0)))
    console.print(table)


def result_table(result: dict[str, Any], json: bool) -> None:
    if json:
        print_json(result)
    else:
        table = Table("step", "ok", "seconds", "detail", title=f"{result['action']} {result['slot']}")
        for step in result["steps"]:
            table.add_row(step["name"], "yes" if step["ok"] else "[red]no[/]", f"{step['seconds']:.1f}", step["detail"])
        console.print(table)
        console.print(f"serving: {', '.join(result['active']) or 'nothing'}", highlight=False)
    if not result["ok"]:
        fail(result["error"] or "the deployment failed")


@app.command()
def status(url: str = URL, json: bool = JSON) -> None:
    """The slots: state, weight, version, requests in flight."""
    slots = admin("GET", "/slots", url)["data"]
    print_json(slots) if json else slots_table(slots)


@app.command()
def define(name: str, slot_url: str = typer.Option(..., "--slot-url", help="The slot's base URL, with /v1."),
           model: str = typer.Option(None), version: str = typer.Option(None),
           runtime: str = typer.Option("external", help="external, process or compose"),
           command: str = typer.Option(None, help="process runtime: the command line (split like a shell, run without one)."),
           env: list[str] = typer.Option(None, "--env", help="process runtime: KEY=VALUE for the slot (repeat it). "
                                         "The gateway's own AISTACK_* variables are not passed on."),
           compose_file: str = typer.Option(None),
           vllm: bool = typer.Option(False, "--vllm", help="process runtime: run vLLM with the `vllm` settings, "
                                     "on the slot URL's host and port."),
           url: str = URL) -> None:
    """Create or change a slot's definition (its state and weight are kept)."""
    pairs = [item.partition("=") for item in env or []]
    if any(not key or not sep for key, sep, _ in pairs):
        fail("--env takes KEY=VALUE")
    argv = shlex.split(command) if command else []
    if vllm:
        config = settings().vllm
        argv, runtime, model = vllm_slot(config, slot_url, command), "process", model or config.served_model_name or config.model
    body = {"url": slot_url, "model": model, "version": version, "runtime": runtime,
            "command": argv, "compose_file": compose_file,
            "env": {key: value for key, _, value in pairs}}
    slots_table([admin("PUT", f"/slots/{name}", url, body)])


def vllm_slot(config: Any, slot_url: str, command: str | None) -> list[str]:
    from urllib.parse import urlsplit

    from aistack.llm.vllm import vllm_command

    if command:
        fail("--vllm builds the command from the vllm settings; leave out --command")
    where = urlsplit(slot_url)
    if not where.hostname or not where.port:
        fail("--vllm needs a slot URL with a host and a port, such as http://127.0.0.1:8302/v1")
    return vllm_command(config, where.hostname, where.port)


@app.command()
def run(name: str, url: str = URL, json: bool = JSON) -> None:
    """Blue-green: start NAME, check health and smoke tests, switch all traffic, drain and stop the old slot."""
    result_table(admin("POST", f"/slots/{name}/deploy", url, {}), json)


@app.command()
def canary(name: str, weight: float = typer.Option(..., min=0), url: str = URL, json: bool = JSON) -> None:
    """Start NAME (health, smoke tests) and give it WEIGHT beside the slots serving now (A/B)."""
    result_table(admin("POST", f"/slots/{name}/canary", url, {"weight": weight}), json)


@app.command()
def weight(name: str, value: float, url: str = URL) -> None:
    """Set the traffic weight of an active slot (0 takes it out of rotation)."""
    slots_table([admin("PUT", f"/slots/{name}/weight", url, {"weight": value})])


@app.command()
def audit(limit: int = typer.Option(20), url: str = URL, json: bool = JSON) -> None:
    """Who changed what, newest first."""
    entries = admin("GET", f"/audit?limit={limit}", url)["data"]
    if json:
        print_json(entries)
        return
    table = Table("at", "actor", "action", "slot", "from", "to")
    for e in entries:
        before, after = e["before"] or {}, e["after"] or {}
        table.add_row(e["at"], e["actor"], e["action"], e["slot"] or "-",
                      f"{before.get('state', '-')} {before.get('weight', '')}", f"{after.get('state', '-')} {after.get('weight', '')}")
    console.print(table)


@app.command("ab-report")
def ab_report(url: str = URL, json: bool = JSON) -> None:
    """Each slot's requests, error rate, latency and tokens per request (this gateway's counts)."""
    rows = admin("GET", "/ab-report", url)["data"]
    if json:
        print_json(rows)
        return
    table = Table("slot", "requests", "error rate", "p50 (s)", "p95 (s)", "tokens/request")
    for r in rows:
        table.add_row(r["slot"], str(r["requests"]), str(r["error_rate"]), str(r["latency_p50_s"]),
                      str(r["latency_p95_s"]), str(r["tokens_per_request"]))
    console.print(table)


def rollback(url: str = URL, json: bool = JSON) -> None:
    """Bring back the slot that served before the last switch (restarted if stopped)."""
    result_table(admin("POST", "/rollback", url, {}), json)


@app.command("nginx-config")
def nginx_config(out: str = typer.Option(None, "--out", "-o", help="Write the snippet here instead of printing it."),
                 apply: bool = typer.Option(False, "--apply", help="On the gateway host: write deploy.nginx.config_path, "
                                            "check with nginx -t, reload."),
                 url: str = URL) -> None:
    """The nginx snippet (upstreams with weights, limit_req, TLS) for the slots serving now."""
    if apply:
        console.print(admin("POST", "/nginx", url, {})["applied"], highlight=False)
        return
    text = admin_text("/nginx-config", url)
    if out:
        from pathlib import Path

        Path(out).write_text(text)
        console.print(f"wrote {out}", highlight=False)
    else:
        typer.echo(text, nl=False)
