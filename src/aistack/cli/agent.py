"""`aistack agent ...`: run an agent and watch each step, resume a killed run, approve or reject."""

from __future__ import annotations

import getpass
import json as jsonlib
from collections.abc import Callable, Iterator
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from aistack.cli.common import console, fail, print_json, settings

app = typer.Typer(help="LangGraph agents: run, resume, approve, inspect.", no_args_is_help=True)
URL = typer.Option(None, help="Run on this gateway (/v1/agents). Default: client.url, else in this process.")
JSON = typer.Option(False, "--json", help="Machine-readable output: one JSON event per line.")


def runs(url: str | None, local: bool = False) -> Any:
    from aistack.client.agents import LocalRuns, RemoteRuns
    from aistack.container import Container

    config = settings()
    url = None if local else url or config.client.url
    actor = getpass.getuser()
    if url:
        key = config.client.api_key.get_secret_value() if config.client.api_key else None
        admin = config.client.admin_key.get_secret_value() if config.client.admin_key else None
        return RemoteRuns(url, key, admin, actor)
    return LocalRuns(Container(config), f"{actor} (cli)")


def guarded(work: Callable[[Any], Any], url: str | None, local: bool = False) -> Any:
    """Run work(client) with every known failure printed as one line."""
    from aistack.client.http import ClientError
    from aistack.errors import AistackError
    from aistack.registry import MissingDependency

    client = None
    try:
        client = runs(url, local)
        return work(client)
    except AistackError as exc:
        fail(exc.message)
    except (ClientError, MissingDependency) as exc:
        fail(str(exc))
    finally:
        if client is not None:
            client.close()


def short(value: Any, width: int = 160) -> str:
    text = value if isinstance(value, str) else jsonlib.dumps(value)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[:width] + "..."


def show(event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind == "started":
        console.print(f"[bold]{event['agent']}[/] run [cyan]{event['thread_id']}[/]", highlight=False)
    elif kind == "iteration":
        console.print(f"[dim]round {event['count']}[/]")
    elif kind == "tool_calls":
        for call in event["calls"]:
            console.print(f"  -> {call['name']}({escape(short(call['args'], 120))})", highlight=False)
    elif kind == "tool_result":
        colour = "green" if event["ok"] else "red"
        console.print(f"  [{colour}]<- {event['name']}[/]: {escape(short(event['content']))}", highlight=False)
    elif kind == "approval_required":
        calls = ", ".join(f"{c['name']}({short(c['args'], 80)})" for c in event["calls"])
        console.print(f"[bold yellow]waits for approval[/] ({event.get('agent')}): {escape(calls)}", highlight=False)
    elif kind == "answer":
        console.print(f"\n{escape(event['content'])}", highlight=False)
    elif kind == "stopped":
        console.print(f"[yellow]stopped: {event['reason']}[/]")
    elif kind == "run":
        finish(event)


def finish(run: dict[str, Any]) -> None:
    status = run["status"]
    line = f"[dim]{run['thread_id']}: {status}"
    if run.get("stop_reason"):
        line += f" ({escape(run['stop_reason'])})"
    console.print(line + "[/]", highlight=False)
    if status == "awaiting_approval":
        console.print(f"approve: aistack agent approve {run['thread_id']}   reject: "
                      f"aistack agent approve {run['thread_id']} --reject", highlight=False)
    elif status == "interrupted":
        console.print(f"resume: aistack agent resume {run['thread_id']}", highlight=False)


def follow(events: Iterator[dict[str, Any]], json: bool) -> None:
    for event in events:
        if json:
            typer.echo(jsonlib.dumps(event, default=str))
        elif event["type"] != "tool_calls" or event["calls"]:
            show(event)


@app.command("list")
def list_agents(url: str = URL, json: bool = JSON) -> None:
    """The agents, their tools and members."""
    agents = guarded(lambda c: c.agents(), url)
    if json:
        return print_json(agents)
    table = Table("agent", "description", "tools")
    for agent in agents:
        table.add_row(agent["name"], agent["description"], ", ".join(agent["tools"] + [f"ask_{m}" for m in agent["members"]]))
    console.print(table)


@app.command()
def run(name: str, task: str, thread: str = typer.Option(None, help="Thread id. Default: <agent>-<random>."),
        url: str = URL, json: bool = JSON) -> None:
    """Run an agent on a task, showing each step as it happens."""
    guarded(lambda c: follow(c.start(name, task, thread), json), url)


@app.command()
def resume(thread: str, url: str = URL, json: bool = JSON) -> None:
    """Continue a run that was killed or timed out, from its last completed step."""
    guarded(lambda c: follow(c.resume(thread), json), url)


@app.command()
def approve(thread: str, reject: bool = typer.Option(False, "--reject", help="Reject instead."),
            reason: str = typer.Option(None, help="Why (kept in the run)."), url: str = URL, json: bool = JSON) -> None:
    """Approve (or reject) the destructive calls a run waits on; the run then goes on."""
    guarded(lambda c: follow(c.decide(thread, not reject, reason), json), url)


@app.command("show")
def show_run(thread: str, url: str = URL, json: bool = JSON) -> None:
    """A run's status, steps and pending approval."""
    found = guarded(lambda c: c.view(thread), url)
    if json:
        return print_json(found)
    for step in found["steps"]:
        show(step)
    finish(found)


@app.command("runs")
def list_runs(name: str = typer.Argument(None, help="Only this agent's runs."), url: str = URL, json: bool = JSON) -> None:
    """Recent runs, newest first."""
    found = guarded(lambda c: c.runs(name), url)
    if json:
        return print_json(found)
    table = Table("thread", "agent", "status", "stop reason", "tool rounds")
    for r in found:
        table.add_row(r["thread_id"], r["agent"], r["status"], r["stop_reason"] or "-", str(r["tool_calls_count"]))
    console.print(table)


@app.command()
def handoff(name: str, task: str, thread: str = typer.Option(None, help="Thread id. Default: <agent>-<random>."),
            json: bool = JSON) -> None:
    """Publish a task on the Redis Streams bus for `aistack agent worker` to run."""
    from aistack.agents.worker import hand_off, open_bus

    def publish(client: Any) -> dict[str, str]:
        bus = open_bus(client.service)
        try:
            return hand_off(bus, client.service, client.caller, name, task, thread, sender=getpass.getuser())
        finally:
            bus.close()

    sent = guarded(publish, None, local=True)
    if json:
        return print_json(sent)
    console.print(f"handed off as {sent['message_id']}; follow it with: aistack agent show {sent['thread_id']}",
                  highlight=False)


@app.command()
def worker(consumer: str = typer.Option(None, help="Consumer name in the group. Default: worker-<random>."),
           claim_idle: float = typer.Option(30.0, help="Seconds before a dead worker's hand-off is taken over."),
           once: bool = typer.Option(False, help="Handle what is waiting, then exit.")) -> None:
    """Run hand-offs from the bus: new ones, and those a dead worker left unacknowledged."""
    import threading

    from aistack.agents.worker import Worker, open_bus

    def serve(client: Any) -> None:
        bus = open_bus(client.service, consumer, claim_idle)
        work = Worker(client.ready(), bus)
        console.print(f"worker {bus.consumer} on {bus.stream} (group {bus.group})", highlight=False)
        try:
            if once:
                while handled := work.run_once(block=0.5):
                    for outcome in handled:
                        console.print(f"{outcome['thread_id']}: {outcome['status']}", highlight=False)
                return
            work.serve(threading.Event())
        except KeyboardInterrupt:
            pass
        finally:
            bus.close()

    guarded(serve, None, local=True)
