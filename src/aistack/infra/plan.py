"""`aistack infra plan`: what the spec wants on the Proxmox node against what is there, as a
list of actions with their `qm` equivalents. Nothing here changes the node.

The default spec is the seed's "GPU Resource Allocation": VM 200 for inference with GPU 0, always
running, and VM 201 for training with GPU 1, on demand. Fixed from the seed: `pcie=1` needs the
q35 machine type, which its `qm create` lines leave out (Proxmox refuses to start such a VM)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SLOT = r"^(0000:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(\.[0-7])?$"
MIB = 2**20


class VmSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vmid: int = Field(ge=100, le=999_999_999)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$")
    role: Literal["inference", "training", "other"] = "other"
    state: Literal["running", "stopped", "on_demand"] = Field(
        "running", description="running: started by apply; stopped: shut down by apply; on_demand: left as it is.")
    memory: int = Field(ge=512, description="MiB.")
    cores: int = Field(ge=1, le=512)
    disk_gb: int = Field(ge=1)
    gpus: list[str] = Field(default_factory=list, description="PCI slots, such as 01:00 (every function of the card).")
    iso: str | None = Field(None, description="Installer ISO, such as local:iso/ubuntu-22.04-server.iso.")
    x_vga: bool = Field(False, description="The GPU is the VM's primary display (x-vga=1).")

    def slots(self) -> list[str]:
        return [g.removeprefix("0000:").lower() for g in self.gpus]


class InfraSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str = "pve1"
    storage: str = "local-lvm"
    bridge: str = "vmbr0"
    host_reserve_mib: int = Field(8192, ge=0, description="Memory left to the host itself.")
    vms: list[VmSpec]

    @model_validator(mode="after")
    def _unique(self) -> InfraSpec:
        for key in ("vmid", "name"):
            values = [getattr(vm, key) for vm in self.vms]
            repeated = sorted({str(v) for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"{key} used twice: {', '.join(repeated)}")
        owners: dict[str, str] = {}
        for vm in self.vms:
            for slot in vm.slots():
                card = slot.split(".")[0]
                if card in owners:
                    raise ValueError(f"GPU {card} is assigned to both {owners[card]} and {vm.name}")
                owners[card] = vm.name
        return self


SEED_SPEC = {
    "node": "pve1", "storage": "local-lvm", "bridge": "vmbr0",
    "vms": [
        {"vmid": 200, "name": "llm-inference", "role": "inference", "state": "running", "memory": 32768, "cores": 8,
         "disk_gb": 64, "gpus": ["01:00"], "iso": "local:iso/ubuntu-22.04-server.iso"},
        {"vmid": 201, "name": "llm-training", "role": "training", "state": "on_demand", "memory": 65536, "cores": 16,
         "disk_gb": 128, "gpus": ["02:00"]},
    ],
}


class SpecError(Exception):
    pass


def load_spec(data: dict[str, Any] | None) -> InfraSpec:
    try:
        return InfraSpec.model_validate(SEED_SPEC if data is None else data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise SpecError(problems) from None


def desired_config(spec: InfraSpec, vm: VmSpec) -> dict[str, Any]:
    """The VM settings apply manages (disks and the ISO only at creation)."""
    config: dict[str, Any] = {"name": vm.name, "memory": vm.memory, "cores": vm.cores, "machine": "q35"}
    for i, slot in enumerate(vm.slots()):
        config[f"hostpci{i}"] = f"{slot},pcie=1" + (",x-vga=1" if vm.x_vga else ",x-vga=0" if vm.role == "inference" else "")
    return config


def create_params(spec: InfraSpec, vm: VmSpec) -> dict[str, Any]:
    params = {"vmid": vm.vmid, **desired_config(spec, vm), "scsihw": "virtio-scsi-single",
              "net0": f"virtio,bridge={spec.bridge}", "scsi0": f"{spec.storage}:{vm.disk_gb},ssd=1"}
    if vm.iso:
        params["ide2"] = f"{vm.iso},media=cdrom"
    return params


@dataclass
class Action:
    vmid: int
    kind: Literal["create", "update", "start", "shutdown"]
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def qm(self) -> str:
        if self.kind == "create":
            args = " ".join(f"--{k} {v}" for k, v in self.params.items() if k != "vmid")
            return f"qm create {self.vmid} {args}"
        if self.kind == "update":
            sets = " ".join(f"--{k} {v}" for k, v in self.params.items() if k != "delete")
            deletes = f" --delete {self.params['delete']}" if self.params.get("delete") else ""
            return f"qm set {self.vmid} {sets}{deletes}".replace("  ", " ")
        return f"qm {self.kind} {self.vmid}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "qm": self.qm}


@dataclass
class NodeFacts:
    """What the node has: memory, PCI functions, and its VMs with their configs and states."""

    memory_total: int
    pci: list[str]  # slots of its PCI functions, 01:00.0
    vms: dict[int, dict[str, Any]]  # vmid -> {"config": ..., "status": ...}


def validate_against(spec: InfraSpec, facts: NodeFacts) -> list[str]:
    problems = []
    for vm in spec.vms:
        for slot in vm.slots():
            if not any(p == slot or p.startswith(slot + ".") for p in facts.pci):
                cards = sorted({p.split(".")[0] for p in facts.pci})
                problems.append(f"{vm.name}: no PCI device {slot} on {spec.node} (it has {', '.join(cards) or 'none'})")
    wanted = sum(vm.memory for vm in spec.vms) * MIB
    available = facts.memory_total - spec.host_reserve_mib * MIB
    if wanted > available:
        problems.append(f"the VMs want {wanted // MIB} MiB, but {spec.node} has {facts.memory_total // MIB} MiB "
                        f"and keeps {spec.host_reserve_mib} MiB for itself (passed-through VMs pin all their memory)")
    return problems


def _same(a: Any, b: Any) -> bool:
    return str(a).replace("0000:", "") == str(b).replace("0000:", "")


def plan(spec: InfraSpec, facts: NodeFacts) -> list[Action]:
    """Creates and config changes first, then starts and shutdowns."""
    actions: list[Action] = []
    power: list[Action] = []
    for vm in spec.vms:
        current = facts.vms.get(vm.vmid)
        if current is None:
            actions.append(Action(vm.vmid, "create", create_params(spec, vm), f"{vm.name} does not exist"))
            status = "stopped"
        else:
            config, status = current["config"], current["status"]
            wanted = desired_config(spec, vm)
            changed = {k: v for k, v in wanted.items() if not _same(config.get(k), v)}
            stale = [k for k in config if k.startswith("hostpci") and k not in wanted]
            if stale:
                changed["delete"] = ",".join(sorted(stale))
            if changed:
                what = ", ".join(k for k in changed if k != "delete") + (f", remove {changed['delete']}" if stale else "")
                actions.append(Action(vm.vmid, "update", changed, f"{vm.name}: {what.strip(', ')} differ"))
        if vm.state == "running" and status != "running":
            power.append(Action(vm.vmid, "start", {}, f"{vm.name} should be running"))
        elif vm.state == "stopped" and status == "running":
            power.append(Action(vm.vmid, "shutdown", {}, f"{vm.name} should be stopped"))
    return actions + power
