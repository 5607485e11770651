"""`aistack infra ...`: Proxmox GPU host checks; VM plans, apply and snapshots through the Proxmox API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from aistack.cli.common import console, fail, print_json, settings

app = typer.Typer(help="Proxmox GPU hosts: passthrough checks, and the VMs through the Proxmox API.",
                  no_args_is_help=True)


@app.command()
def check(root: Path = typer.Option(Path("/"), help="Read the host under this folder (a recorded host tree)."),
          json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Is this host ready for GPU passthrough? Each failure says exactly what to change."""
    from aistack.infra.hostcheck import check_host

    report = check_host(root)
    if json:
        print_json(report.as_dict())
    else:
        table = Table("check", "", "found", "fix", show_lines=True)
        for c in report.checks:
            table.add_row(c.name, "[green]pass[/]" if c.ok else "[red]FAIL[/]", escape(c.detail), escape(c.fix))
        console.print(table)
        console.print("ready for GPU passthrough" if report.ok else "[red]not ready[/]: apply the fixes above")
    if not report.ok:
        raise typer.Exit(1)


SPEC = typer.Argument(None, help="Spec YAML (node, storage, bridge, vms). Default: the seed's VMs 200 and 201.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _spec(path: Path | None) -> Any:
    import yaml

    from aistack.infra.plan import SpecError, load_spec

    try:
        data = yaml.safe_load(path.read_text()) if path else None
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path} is not YAML: {exc}")
    if path and not isinstance(data, dict):
        fail(f"{path}: a spec is a mapping with node, storage, bridge and vms")
    try:
        return load_spec(data)
    except SpecError as exc:
        fail(f"invalid spec: {exc}", code=2)


def _node(spec: Any) -> Any:
    from aistack.infra.apply import Node
    from aistack.infra.proxmox import ProxmoxConfigError, proxmox_api

    config = settings().proxmox
    try:
        return Node(proxmox_api(config), spec.node, config)
    except ProxmoxConfigError as exc:
        fail(str(exc))


def _planned(spec: Any) -> tuple[Any, list[Any]]:
    from aistack.infra.apply import ProxmoxError
    from aistack.infra.plan import plan, validate_against

    node = _node(spec)
    try:
        facts = node.facts()
    except ProxmoxError as exc:
        fail(str(exc))
    problems = validate_against(spec, facts)
    if problems:
        fail("the spec does not fit the node:\n  " + "\n  ".join(problems), code=2)
    return node, plan(spec, facts)


def _show_plan(actions: list[Any]) -> None:
    if not actions:
        console.print("nothing to change: the node matches the spec")
        return
    table = Table("VM", "action", "why", "qm equivalent", show_lines=True)
    for a in actions:
        table.add_row(str(a.vmid), a.kind, escape(a.reason), escape(a.qm))
    console.print(table)


@app.command()
def plan(spec: Path = SPEC, json: bool = JSON) -> None:
    """What apply would create, change, start or stop on the node, with the qm commands."""
    _, actions = _planned(_spec(spec))
    if json:
        return print_json([a.as_dict() for a in actions])
    _show_plan(actions)


@app.command()
def apply(spec: Path = SPEC, yes: bool = typer.Option(False, "--yes", help="Make the changes (else a dry run)."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Only show the plan: the default without --yes."),
          json: bool = JSON) -> None:
    """Create the VMs, attach their GPUs (pcie=1) and start or stop them, through the Proxmox API."""
    from aistack.infra.apply import apply as run

    if yes and dry_run:
        fail("--yes and --dry-run contradict each other", code=2)

    node, actions = _planned(_spec(spec))
    if not yes or not actions:
        if json:
            return print_json({"dry_run": True, "actions": [a.as_dict() for a in actions]})
        _show_plan(actions)
        if actions:
            console.print("dry run: nothing was changed; run again with --yes to apply")
        return
    def say(action: Any) -> None:
        if not json:
            console.print(f"-> {escape(action.qm)}", highlight=False)

    result = run(node, actions, progress=say)
    if json:
        print_json(result.as_dict())
    else:
        console.print(f"done: {len(result.done)} of {len(actions)}")
        if result.failed:
            console.print(f"[red]failed:[/] {escape(result.error or result.failed.qm)}", highlight=False)
            for a in result.not_run:
                console.print(f"not run: {escape(a.qm)}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def snapshot(spec: Path = SPEC, vm: str = typer.Option(None, help="VM id or name. Default: the training VM."),
             start: bool = typer.Option(False, "--start", help="Start the VM afterwards (a training run)."),
             yes: bool = typer.Option(False, "--yes", help="Do it (else a dry run).")) -> None:
    """Snapshot the training VM before a run (pre-training-YYYYMMDD, once a day), then optionally start it."""
    from aistack.infra.apply import ProxmoxError, pre_training_name, training_vm

    chosen_spec = _spec(spec)
    try:
        chosen = training_vm(chosen_spec, vm)
    except ProxmoxError as exc:
        fail(str(exc))
    name = pre_training_name()
    if not yes:
        console.print(f"dry run: qm snapshot {chosen.vmid} {name}" + (f" && qm start {chosen.vmid}" if start else ""),
                      highlight=False)
        return
    node = _node(chosen_spec)
    try:
        taken = node.snapshot(chosen.vmid, name, "before a training run (aistack infra snapshot)")
        console.print(f"{'took' if taken else 'kept the existing'} snapshot {name} of VM {chosen.vmid}", highlight=False)
        if start:
            from aistack.infra.plan import Action

            status = node.call("read VM status", lambda: node.api.nodes(node.name).qemu(chosen.vmid).status.current.get())
            if status.get("status") != "running":
                node.run(Action(chosen.vmid, "start"))
            console.print(f"VM {chosen.vmid} is running", highlight=False)
    except ProxmoxError as exc:
        fail(str(exc))
