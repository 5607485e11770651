"""`aistack infra check`: is this Proxmox host ready for GPU passthrough, and what to fix.

Every reader takes a root path, so a recorded host tree (files copied from a host, command
outputs saved under `commands/`) is checked the same way as the live host (`/`, where the
commands are run). The fixes are the seed's ("GPU Passthrough Configuration"), with the ids
read from this host, and two corrections: `vfio_virqfd` is no module on Proxmox VE 8 (kernel 6.2
merged it into `vfio`), and a host that boots with systemd-boot (ZFS root) takes its command line
from /etc/kernel/cmdline, not GRUB."""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NVIDIA = "10de"
VFIO_MODULES = ["vfio", "vfio_iommu_type1", "vfio_pci"]
PCI_LINE = re.compile(r"^(?P<slot>[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) (?P<kind>[^\[]+)\[(?P<cls>[0-9a-f]{4})\]: "
                      r"(?P<name>.*) \[(?P<vendor>[0-9a-f]{4}):(?P<device>[0-9a-f]{4})\]", re.IGNORECASE)
IOMMU_ON = ("DMAR: IOMMU enabled", "AMD-Vi: Interrupt remapping enabled", "AMD-Vi: IOMMU performance counters",
            "iommu: Default domain type")


@dataclass
class PciDevice:
    slot: str  # bus:device.function, e.g. 01:00.0
    cls: str   # 0300 VGA, 0302 3D controller, 0403 audio
    name: str
    vendor: str
    device: str

    @property
    def id(self) -> str:
        return f"{self.vendor}:{self.device}"

    @property
    def card(self) -> str:
        return self.slot.split(".")[0]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class HostReport:
    root: str
    checks: list[Check] = field(default_factory=list)
    gpus: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"root": self.root, "ok": self.ok, "checks": [asdict(c) for c in self.checks], "gpus": self.gpus}


class Host:
    """What a host exposes, read under `root`; commands run only when root is /."""

    def __init__(self, root: Path):
        self.root = root

    def read(self, path: str) -> str:
        try:
            return (self.root / path.lstrip("/")).read_text(errors="replace")
        except OSError:
            return ""

    def command(self, *argv: str) -> str:
        saved = self.root / "commands" / " ".join(argv).replace(" ", "_")
        if self.root != Path("/"):
            return saved.read_text(errors="replace") if saved.exists() else ""
        try:
            return subprocess.run(list(argv), capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def pci_devices(self) -> list[PciDevice]:
        found = []
        for line in self.command("lspci", "-nn").splitlines():
            match = PCI_LINE.match(line.strip())
            if match:
                found.append(PciDevice(match["slot"], match["cls"].lower(), match["name"], match["vendor"].lower(),
                                       match["device"].lower()))
        return found

    def iommu_groups(self) -> dict[str, list[str]]:
        """Group number -> PCI slots (0000:01:00.0 -> 01:00.0)."""
        base = self.root / "sys/kernel/iommu_groups"
        groups: dict[str, list[str]] = {}
        if base.is_dir():
            for group in sorted(base.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0):
                devices = group / "devices"
                if devices.is_dir():
                    groups[group.name] = sorted(d.name.split(":", 1)[-1] for d in devices.iterdir())
        return groups

    def driver(self, slot: str) -> str | None:
        link = self.root / "sys/bus/pci/devices" / f"0000:{slot}" / "driver"
        if link.is_symlink():
            return Path(str(link.readlink())).name
        if link.is_file():  # a recorded tree may hold the name instead of the link
            return link.read_text().strip() or None
        return None

    def loaded_modules(self) -> set[str]:
        return {line.split()[0] for line in self.read("/proc/modules").splitlines() if line.strip()}

    def cpu_vendor(self) -> str:
        text = self.read("/proc/cpuinfo")
        return "amd" if "AuthenticAMD" in text else "intel"

    def boots_with_systemd_boot(self) -> bool:
        return bool(self.read("/etc/kernel/cmdline").strip())


def check_host(root: Path) -> HostReport:
    host = Host(root)
    report = HostReport(str(root))
    cmdline = host.read("/proc/cmdline")
    vendor = host.cpu_vendor()
    flag = "amd_iommu=on" if vendor == "amd" else "intel_iommu=on"
    if host.boots_with_systemd_boot():
        where = (f"add '{flag} iommu=pt' to /etc/kernel/cmdline (systemd-boot, ZFS root), then run "
                 "'proxmox-boot-tool refresh' and reboot")
    else:
        where = (f'set GRUB_CMDLINE_LINUX_DEFAULT="quiet {flag} iommu=pt" in /etc/default/grub, then run '
                 "'update-grub' and reboot")
    groups = host.iommu_groups()
    # AMD-Vi, and Intel's on kernels 6.8+ (Proxmox VE 8.2), are on unless turned off
    on = flag in cmdline or (bool(groups) and "iommu=off" not in cmdline.replace("_iommu=off", "iommu=off"))
    report.checks.append(Check("iommu on the kernel command line", on,
                               f"/proc/cmdline: {cmdline.strip() or '(empty)'}", "" if on else where))
    log = host.command("dmesg")
    active = bool(groups) or any(marker in log for marker in IOMMU_ON)
    report.checks.append(Check(
        "IOMMU active", active,
        f"{len(groups)} IOMMU groups" + ("; the kernel log reports it enabled" if any(m in log for m in IOMMU_ON) else ""),
        "" if active else f"enable VT-d (Intel) or AMD-Vi/IOMMU in the firmware setup; {where}"))

    devices = host.pci_devices()
    gpus = [d for d in devices if d.vendor == NVIDIA and d.cls in ("0300", "0302")]
    report.checks.append(Check("NVIDIA GPUs", bool(gpus), ", ".join(f"{g.slot} {g.name} [{g.id}]" for g in gpus)
                               or "no NVIDIA GPU in lspci -nn", "" if gpus else "seat the GPU; check lspci -nn"))
    group_of = {slot: number for number, slots in groups.items() for slot in slots}
    passthrough: list[PciDevice] = []
    for gpu in gpus:
        functions = [d for d in devices if d.card == gpu.card]
        passthrough += functions
        group = group_of.get(gpu.slot)
        bridges = {d.slot for d in devices if d.cls == "0604"}  # VFIO tolerates PCI bridges in a group
        others = [s for s in groups.get(group or "", []) if s.split(".")[0] != gpu.card and s not in bridges]
        report.gpus.append({"slot": gpu.slot, "name": gpu.name, "id": gpu.id, "iommu_group": group,
                            "functions": [{"slot": f.slot, "id": f.id, "class": f.cls, "driver": host.driver(f.slot)}
                                          for f in functions], "shares_group_with": others})
        if group is not None:
            report.checks.append(Check(
                f"GPU {gpu.slot} alone in its IOMMU group", not others,
                f"group {group}: {', '.join(groups[group])}",
                "" if not others else f"the group also holds {', '.join(others)}, which would be passed through with "
                "it: move the GPU to a slot wired to the CPU, or (insecure) use the ACS override patch"))

    loaded = host.loaded_modules()
    missing = [m for m in VFIO_MODULES if m not in loaded]
    report.checks.append(Check(
        "VFIO modules loaded", not missing, f"loaded: {', '.join(m for m in VFIO_MODULES if m in loaded) or 'none'}",
        "" if not missing else "add these lines to /etc/modules:\n" + "\n".join(VFIO_MODULES)
        + "\nthen run 'update-initramfs -u -k all' and reboot (vfio_virqfd is part of vfio since kernel 6.2)"))

    if passthrough:
        ids = ",".join(dict.fromkeys(d.id for d in passthrough))
        unbound = [f"{d.slot} ({host.driver(d.slot) or 'no driver'})" for d in passthrough
                   if host.driver(d.slot) != "vfio-pci"]
        report.checks.append(Check(
            "vfio-pci holds the GPUs and their functions", not unbound,
            "all on vfio-pci" if not unbound else f"not on vfio-pci: {', '.join(unbound)}",
            "" if not unbound else f"write /etc/modprobe.d/vfio.conf:\noptions vfio-pci ids={ids} disable_vga=1\n"
            "softdep nvidia pre: vfio-pci\nsoftdep nouveau pre: vfio-pci\nthen run 'update-initramfs -u -k all' and reboot"))
    return report
