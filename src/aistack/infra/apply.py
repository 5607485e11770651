"""`aistack infra apply`: the plan's actions through the Proxmox VE API, one at a time, each
waited for on its task's status (never a sleep). A second apply finds nothing to do. When an
action fails, the result says what was done, what failed and why, and what was not run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aistack.infra.plan import Action, InfraSpec, NodeFacts, VmSpec
from aistack.settings.infra import ProxmoxSettings


class ProxmoxError(Exception):
    """The API refused or could not be reached: the message says which and what to check."""


def api_error(exc: Exception, what: str) -> ProxmoxError:
    from proxmoxer.core import ResourceException
    from requests.exceptions import RequestException

    if isinstance(exc, ResourceException):
        if exc.status_code == 401:
            return ProxmoxError(f"{what}: the Proxmox API refused the token (401): check proxmox.user, "
                                "proxmox.token_name and proxmox.token_value")
        if exc.status_code == 403:
            return ProxmoxError(f"{what}: the token lacks a permission (403): {exc.content}")
        return ProxmoxError(f"{what}: {exc.status_code} {exc.content}")
    if isinstance(exc, RequestException):
        return ProxmoxError(f"{what}: the Proxmox API is unreachable: {exc}")
    return ProxmoxError(f"{what}: {exc}")


class Node:
    """One node of the cluster, through proxmoxer."""

    def __init__(self, api: Any, name: str, config: ProxmoxSettings, poll: float = 0.5):
        self.api, self.name, self.config, self.poll = api, name, config, poll

    def call(self, what: str, do: Callable[[], Any]) -> Any:
        try:
            return do()
        except Exception as exc:  # noqa: BLE001 - every failure is reported as a ProxmoxError
            raise api_error(exc, what) from None

    def facts(self) -> NodeFacts:
        node = self.api.nodes(self.name)
        status = self.call(f"read node {self.name}", lambda: node.status.get())
        pci = self.call("list PCI devices", lambda: node.hardware.pci.get())
        vms = {}
        for vm in self.call("list VMs", lambda: node.qemu.get()):
            vmid = int(vm["vmid"])
            config = self.call(f"read VM {vmid}", lambda vmid=vmid: node.qemu(vmid).config.get())
            vms[vmid] = {"config": config, "status": vm.get("status", "unknown")}
        return NodeFacts(int(status["memory"]["total"]), [p["id"].removeprefix("0000:") for p in pci], vms)

    def wait(self, upid: str, what: str) -> None:
        """Poll the task until it stops; its exit status must be OK."""
        deadline = time.monotonic() + self.config.task_timeout
        tasks = self.api.nodes(self.name).tasks(upid)
        while True:
            status = self.call(f"{what}: read task status", lambda: tasks.status.get())
            if status.get("status") == "stopped":
                if status.get("exitstatus") != "OK":
                    raise ProxmoxError(f"{what}: the task failed: {status.get('exitstatus')}")
                return
            if time.monotonic() > deadline:
                raise ProxmoxError(f"{what}: the task is still running after {self.config.task_timeout:g} s ({upid})")
            time.sleep(self.poll)

    def run(self, action: Action) -> None:
        qemu = self.api.nodes(self.name).qemu
        start = {
            "create": lambda: qemu.post(**action.params),
            "update": lambda: qemu(action.vmid).config.post(**action.params),
            "start": lambda: qemu(action.vmid).status.start.post(),
            "shutdown": lambda: qemu(action.vmid).status.shutdown.post(),
        }[action.kind]
        self.wait(self.call(action.qm, start), action.qm)

    def snapshot(self, vmid: int, name: str, description: str) -> bool:
        """Take the snapshot unless one of that name exists; True when it was taken. No RAM state:
        a VM with a passed-through GPU cannot save it."""
        vm = self.api.nodes(self.name).qemu(vmid)
        existing = self.call(f"list snapshots of {vmid}", lambda: vm.snapshot.get())
        if any(s.get("name") == name for s in existing):
            return False
        upid = self.call(f"qm snapshot {vmid} {name}", lambda: vm.snapshot.post(snapname=name, description=description))
        self.wait(upid, f"qm snapshot {vmid} {name}")
        return True


@dataclass
class ApplyResult:
    done: list[Action] = field(default_factory=list)
    failed: Action | None = None
    error: str | None = None
    not_run: list[Action] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "done": [a.as_dict() for a in self.done],
                "failed": self.failed.as_dict() if self.failed else None, "error": self.error,
                "not_run": [a.as_dict() for a in self.not_run]}


def apply(node: Node, actions: list[Action], progress: Callable[[Action], None] = lambda a: None) -> ApplyResult:
    result = ApplyResult()
    for i, action in enumerate(actions):
        progress(action)
        try:
            node.run(action)
        except ProxmoxError as exc:
            result.failed, result.error, result.not_run = action, str(exc), actions[i + 1:]
            return result
        result.done.append(action)
    return result


def training_vm(spec: InfraSpec, which: str | None) -> VmSpec:
    chosen = [vm for vm in spec.vms if (which is None and vm.role == "training") or str(vm.vmid) == which
              or vm.name == which]
    if not chosen:
        raise ProxmoxError(f"no VM {which or 'with role training'} in the spec")
    return chosen[0]


def pre_training_name(today: date | None = None) -> str:
    return f"pre-training-{(today or date.today()):%Y%m%d}"
