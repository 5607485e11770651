"""`aistack infra plan|apply|snapshot` through proxmoxer against the Proxmox VE API test server
(tests/pve_server.py; not Proxmox, which cannot run here): the seed's two VMs created with their
GPUs and started, each task waited for by its UPID, a second apply that changes nothing, drift
repaired, a partial failure reported and recovered, a bad token, a failing task, bad specs."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from support.pve_server import PveServer, node_status
from support.cli import invoke

pytestmark = pytest.mark.integration


@pytest.fixture
def pve(tmp_path: Path):
    server = PveServer(tmp_path)
    server.state.nodes["pve1"] = node_status(memory_used_gib=10, memory_total_gib=128)
    yield server
    server.stop()


def infra(pve: PveServer, *args: str, token: str = "s3cret") -> subprocess.CompletedProcess:
    env = {"AISTACK_PROXMOX__HOST": "127.0.0.1", "AISTACK_PROXMOX__PORT": str(pve.port),
           "AISTACK_PROXMOX__TOKEN_VALUE": token, "AISTACK_PROXMOX__CA_BUNDLE": str(pve.cert), "COLUMNS": "200"}
    return invoke("infra", *args, env=env)


def test_the_seeds_vms_are_planned_created_and_started_once(pve: PveServer) -> None:
    planned = infra(pve, "plan", "--json")
    assert planned.returncode == 0, planned.stderr
    actions = json.loads(planned.stdout)
    assert [(a["vmid"], a["kind"]) for a in actions] == [(200, "create"), (201, "create"), (200, "start")]
    assert actions[0]["qm"] == ("qm create 200 --name llm-inference --memory 32768 --cores 8 --machine q35 "
                                "--hostpci0 01:00,pcie=1,x-vga=0 --scsihw virtio-scsi-single --net0 virtio,bridge=vmbr0 "
                                "--scsi0 local-lvm:64,ssd=1 --ide2 local:iso/ubuntu-22.04-server.iso,media=cdrom")
    dry = infra(pve, "apply")
    assert dry.returncode == 0 and "dry run" in dry.stdout and pve.state.mutations() == []
    assert infra(pve, "apply", "--dry-run").returncode == 0 and pve.state.mutations() == []
    assert infra(pve, "apply", "--dry-run", "--yes").returncode == 2

    done = infra(pve, "apply", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] and len(json.loads(done.stdout)["done"]) == 3
    inference, training = pve.state.vms[200], pve.state.vms[201]
    assert inference["status"] == "running" and training["status"] == "stopped"  # training is on demand
    assert inference["config"]["hostpci0"] == "01:00,pcie=1,x-vga=0" and training["config"]["hostpci0"] == "02:00,pcie=1"
    assert inference["config"]["machine"] == "q35"
    polled = [p for m, p, _ in pve.state.requests if "/tasks/" in p]
    assert len(polled) == 6  # every task read until it stopped: running once, then stopped

    before = len(pve.state.mutations())
    again = infra(pve, "apply", "--yes")
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert len(pve.state.mutations()) == before


def test_drift_is_planned_and_repaired(pve: PveServer) -> None:
    assert infra(pve, "apply", "--yes").returncode == 0
    pve.state.vms[200]["config"]["memory"] = 16384
    pve.state.vms[200]["config"]["hostpci1"] = "03:00,pcie=1"
    pve.state.vms[200]["status"] = "stopped"
    actions = json.loads(infra(pve, "plan", "--json").stdout)
    assert [(a["kind"], a["params"]) for a in actions] == [
        ("update", {"memory": 32768, "delete": "hostpci1"}), ("start", {})]
    assert actions[0]["qm"] == "qm set 200 --memory 32768 --delete hostpci1"
    assert infra(pve, "apply", "--yes").returncode == 0
    assert pve.state.vms[200]["config"]["memory"] == 32768 and "hostpci1" not in pve.state.vms[200]["config"]


def test_a_partial_failure_says_what_was_done_and_a_rerun_finishes(pve: PveServer) -> None:
    pve.state.fail["qmcreate:201"] = "unable to create VM 201 - lvcreate 'pve/vm-201-disk-0' error: insufficient free space"
    failed = infra(pve, "apply", "--yes", "--json")
    assert failed.returncode == 1
    result = json.loads(failed.stdout)
    assert [a["vmid"] for a in result["done"]] == [200] and result["failed"]["vmid"] == 201
    assert "the task failed: unable to create VM 201" in result["error"]
    assert [(a["vmid"], a["kind"]) for a in result["not_run"]] == [(200, "start")]
    table = infra(pve, "apply", "--yes")
    assert "failed:" in table.stdout and "not run: qm start 200" in table.stdout
    pve.state.fail.clear()
    assert infra(pve, "apply", "--yes").returncode == 0
    assert sorted(pve.state.vms) == [200, 201] and pve.state.vms[200]["status"] == "running"


def test_a_task_that_fails_and_a_bad_token(pve: PveServer) -> None:
    pve.state.fail["qmstart"] = "start failed: QEMU exited with code 1"
    done = infra(pve, "apply", "--yes")
    assert done.returncode == 1 and "QEMU exited with code 1" in done.stdout
    refused = infra(pve, "plan", token="wrong")
    assert refused.returncode == 1 and "refused the token (401)" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(("spec", "message"), [
    ({"vms": [{"vmid": 200, "name": "a", "memory": 1024, "cores": 1, "disk_gb": 8, "gpus": ["01:00"]},
              {"vmid": 201, "name": "b", "memory": 1024, "cores": 1, "disk_gb": 8, "gpus": ["01:00.0"]}]},
     "GPU 01:00 is assigned to both a and b"),
    ({"vms": [{"vmid": 200, "name": "a", "memory": 1024, "cores": 1, "disk_gb": 8, "gpus": ["05:00"]}]},
     "no PCI device 05:00 on pve1 (it has 01:00, 02:00)"),
    ({"vms": [{"vmid": 200, "name": "a", "memory": 131072, "cores": 1, "disk_gb": 8}]}, "the VMs want 131072 MiB"),
    ({"vms": [{"vmid": 200, "name": "a", "memory": 1024, "cores": 1, "disk_gb": 8, "colour": "red"}]},
     "vms.0.colour: Extra inputs are not permitted"),
])
def test_bad_specs_are_refused_before_any_change(pve: PveServer, tmp_path: Path, spec: dict, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))
    done = infra(pve, "apply", str(path), "--yes")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert pve.state.mutations() == []


def test_a_snapshot_before_training_once_a_day(pve: PveServer) -> None:
    assert infra(pve, "apply", "--yes").returncode == 0
    dry = infra(pve, "snapshot", "--start")
    name = f"pre-training-{date.today():%Y%m%d}"
    assert f"dry run: qm snapshot 201 {name} && qm start 201" in dry.stdout
    done = infra(pve, "snapshot", "--start", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"took snapshot {name} of VM 201" in done.stdout and pve.state.vms[201]["status"] == "running"
    assert [s["name"] for s in pve.state.vms[201]["snapshots"]] == [name]
    again = infra(pve, "snapshot", "--yes")
    assert "kept the existing snapshot" in again.stdout and len(pve.state.vms[201]["snapshots"]) == 1
