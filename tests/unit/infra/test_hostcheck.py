"""`aistack infra check` on recorded host trees (tests/data/hosts: /proc, /sys and the outputs of
`lspci -nn` and `dmesg`, laid out as on a Proxmox VE 8 host with two RTX A4000): a host that is
ready, one with IOMMU off and the GPUs on the nvidia driver, and an AMD host booting with
systemd-boot whose GPUs share an IOMMU group."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.servers import BIN

from aistack.infra.hostcheck import check_host

pytestmark = pytest.mark.unit
HOSTS = Path(__file__).resolve().parents[2] / "data" / "hosts"


def checks(name: str) -> dict[str, object]:
    return {c.name: c for c in check_host(HOSTS / name).checks}


def test_a_ready_host_passes_every_check() -> None:
    report = check_host(HOSTS / "good")
    assert report.ok and len(report.checks) == 7
    gpu = report.gpus[0]
    assert (gpu["slot"], gpu["id"], gpu["iommu_group"], gpu["shares_group_with"]) == ("01:00.0", "10de:24b0", "12", [])
    assert [f["driver"] for f in gpu["functions"]] == ["vfio-pci", "vfio-pci"]


def test_iommu_off_and_the_nvidia_driver_each_get_their_fix() -> None:
    found = checks("no-iommu")
    cmdline = found["iommu on the kernel command line"]
    assert not cmdline.ok and 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt"' in cmdline.fix
    assert "update-grub" in cmdline.fix
    assert not found["IOMMU active"].ok and "VT-d" in found["IOMMU active"].fix
    modules = found["VFIO modules loaded"]
    assert not modules.ok and "vfio\nvfio_iommu_type1\nvfio_pci" in modules.fix and "update-initramfs" in modules.fix
    bound = found["vfio-pci holds the GPUs and their functions"]
    assert not bound.ok and "01:00.0 (nvidia)" in bound.detail
    assert "options vfio-pci ids=10de:24b0,10de:228b disable_vga=1" in bound.fix  # this host's ids, not the seed's


def test_a_shared_iommu_group_is_flagged_and_bridges_are_not() -> None:
    found = checks("shared-group")
    shared = found["GPU 01:00.0 alone in its IOMMU group"]
    assert not shared.ok and "02:00.0, 02:00.1" in shared.fix and "00:01.0" not in shared.fix
    assert found["iommu on the kernel command line"].ok  # AMD-Vi is on unless turned off
    assert found["VFIO modules loaded"].detail == "loaded: vfio_iommu_type1, vfio_pci"
    assert "01:00.1 (snd_hda_intel)" in found["vfio-pci holds the GPUs and their functions"].detail


def test_systemd_boot_hosts_are_told_to_edit_the_kernel_cmdline(tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "proc").mkdir(parents=True)
    (host / "proc/cmdline").write_text("initrd=\\EFI\\proxmox\\initrd.img root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    (host / "etc/kernel").mkdir(parents=True)
    (host / "etc/kernel/cmdline").write_text("root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    report = check_host(host)
    fix = {c.name: c for c in report.checks}["iommu on the kernel command line"].fix
    assert "/etc/kernel/cmdline" in fix and "proxmox-boot-tool refresh" in fix
    assert not report.ok and "no NVIDIA GPU" in {c.name: c for c in report.checks}["NVIDIA GPUs"].detail


def test_the_cli_exits_non_zero_with_json_for_automation() -> None:
    bad = subprocess.run([str(BIN / "aistack"), "infra", "check", "--root", str(HOSTS / "no-iommu"), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False
    good = subprocess.run([str(BIN / "aistack"), "infra", "check", "--root", str(HOSTS / "good")],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "ready for GPU passthrough" in good.stdout
