"""A Proxmox VE API test server: no Proxmox VE can run here, so the tests talk to this one.

It follows the documented API (https://pve.proxmox.com/pve-docs/api-viewer/): HTTPS on its own
self-signed certificate, JSON under /api2/json wrapped as {"data": ...}, API-token auth in the
header `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET` (401 otherwise), form-encoded
POST/PUT parameters, and the shapes a PVE 8 node returns for:

- GET /nodes, GET /nodes/{node}/status, GET /nodes/{node}/hardware/pci
- GET|POST /nodes/{node}/qemu (POST creates a VM: a `qmcreate` task, its UPID returned)
- GET|POST /nodes/{node}/qemu/{vmid}/config (POST: a `qmconfig` task), GET .../status/current,
  POST .../status/start|stop|shutdown (`qmstart`, `qmstop`, `qmshutdown`), GET|POST .../snapshot (`qmsnapshot`)
- GET /nodes/{node}/tasks/{upid}/status: `running` on the first poll, then `stopped` with
  `exitstatus` "OK", or the error a test injected for that task type (`fail`)."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GIB = 2**30


def node_status(memory_used_gib: float = 20.0, memory_total_gib: float = 64.0, cpu: float = 0.12) -> dict[str, Any]:
    """A node's status as GET /nodes/{node}/status answers (PVE 8.2)."""
    total, used = int(memory_total_gib * GIB), int(memory_used_gib * GIB)
    return {
        "cpu": cpu, "wait": 0.0012, "idle": 0, "uptime": 1_296_000,
        "loadavg": ["0.52", "0.61", "0.58"],
        "cpuinfo": {"cpus": 32, "cores": 16, "sockets": 1, "model": "AMD EPYC 7302P 16-Core Processor",
                    "mhz": "3000.000", "hvm": "1", "flags": "fpu vme de pse"},
        "memory": {"total": total, "used": used, "free": total - used},
        "swap": {"total": 8 * GIB, "used": 0, "free": 8 * GIB},
        "rootfs": {"total": 100 * GIB, "used": 31 * GIB, "free": 69 * GIB, "avail": 64 * GIB},
        "ksm": {"shared": 0},
        "kversion": "Linux 6.8.4-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.4-2 (2024-04-10T17:36Z)",
        "pveversion": "pve-manager/8.2.2/9355359cd7afbae4",
        "current-kernel": {"sysname": "Linux", "release": "6.8.4-2-pve", "machine": "x86_64"},
        "boot-info": {"mode": "efi", "secureboot": 0},
    }


def pci_device(slot: str, device: str, name: str, cls: str = "0x030000", group: int = 12) -> dict[str, Any]:
    """A function as GET /nodes/{node}/hardware/pci lists it."""
    return {"id": f"0000:{slot}", "class": cls, "vendor": "0x10de", "device": f"0x{device}",
            "vendor_name": "NVIDIA Corporation", "device_name": name, "iommugroup": group,
            "subsystem_vendor": "0x10de", "subsystem_device": "0x14ad"}


A4000_PCI = [pci_device("01:00.0", "24b0", "GA104GL [RTX A4000]", group=12),
             pci_device("01:00.1", "228b", "GA104 High Definition Audio Controller", "0x040300", 12),
             pci_device("02:00.0", "24b0", "GA104GL [RTX A4000]", group=13),
             pci_device("02:00.1", "228b", "GA104 High Definition Audio Controller", "0x040300", 13)]


@dataclass
class PveState:
    token: str  # the full header value after "PVEAPIToken="
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    pci: list[dict[str, Any]] = field(default_factory=lambda: list(A4000_PCI))
    vms: dict[int, dict[str, Any]] = field(default_factory=dict)  # vmid -> {config, status, snapshots}
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # upid -> {status, exitstatus, polls}
    fail: dict[str, str] = field(default_factory=dict)  # "qmstart" or "qmcreate:201" -> the task's error
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth header

    def task(self, node: str, kind: str, vmid: int, apply: Any) -> str:
        """Start a task: its effect happens now unless the test made this task type fail."""
        upid = (f"UPID:{node}:{len(self.tasks) + 4096:08X}:{int(time.monotonic() * 100) & 0xFFFFFFFF:08X}:"
                f"{int(time.time()):08X}:{kind}:{vmid}:{self.token.split('=')[0]}:")
        error = self.fail.get(f"{kind}:{vmid}", self.fail.get(kind))
        if error is None:
            apply()
        self.tasks[upid] = {"exitstatus": error or "OK", "polls": 0, "type": kind, "id": str(vmid), "node": node}
        return upid

    def mutations(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m != "GET"]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "pve.crt", folder / "pve.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class PveServer:
    def __init__(self, folder: Path, user: str = "root@pam", token_name: str = "aistack", secret: str = "s3cret"):
        self.state = PveState(f"{user}!{token_name}={secret}")
        self.cert, key = make_certificate(folder)
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, data: Any, reason: str | None = None) -> None:
                body = json.dumps({"data": data}).encode()
                self.send_response(status, reason)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self.handle_call("GET")

            def do_POST(self) -> None:  # noqa: N802
                self.handle_call("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self.handle_call("PUT")

            def handle_call(self, method: str) -> None:
                auth = self.headers.get("Authorization", "")
                path = urllib.parse.urlsplit(self.path).path
                state.requests.append((method, path, auth))
                if auth != f"PVEAPIToken={state.token}":
                    return self.reply(401, None, "authentication failure")
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
                for pattern, route in ROUTES:
                    found = re.fullmatch(pattern, method + " " + path.removeprefix("/api2/json"))
                    if found:
                        node = found.groupdict().get("node")
                        if node is not None and node not in state.nodes:
                            return self.reply(595, None, f"no such cluster node '{node}'")
                        try:
                            return self.reply(200, route(state, form, **found.groupdict()))
                        except ApiError as exc:
                            return self.reply(exc.status, None, exc.message)
                self.reply(501, None, f"Method '{method} {path.removeprefix('/api2/json')}' not implemented")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _vm(state: PveState, vmid: str) -> dict[str, Any]:
    if int(vmid) not in state.vms:
        raise ApiError(500, f"Configuration file 'nodes/pve1/qemu-server/{vmid}.conf' does not exist")
    return state.vms[int(vmid)]


def _create(state: PveState, form: dict[str, str], node: str) -> str:
    vmid = int(form.pop("vmid"))
    if vmid in state.vms:
        raise ApiError(500, f"unable to create VM {vmid} - VM {vmid} already exists on node '{node}'")
    config = {k: (int(v) if v.isdigit() else v) for k, v in form.items()}
    return state.task(node, "qmcreate", vmid, lambda: state.vms.__setitem__(
        vmid, {"config": config, "status": "stopped", "snapshots": []}))


def _set_config(state: PveState, form: dict[str, str], node: str, vmid: str) -> str:
    vm = _vm(state, vmid)
    deleted = [k for k in form.pop("delete", "").split(",") if k]

    def apply() -> None:
        vm["config"].update({k: (int(v) if v.isdigit() else v) for k, v in form.items()})
        for key in deleted:
            vm["config"].pop(key, None)

    return state.task(node, "qmconfig", int(vmid), apply)


def _power(kind: str, status: str):
    def route(state: PveState, form: dict[str, str], node: str, vmid: str) -> str:
        vm = _vm(state, vmid)
        return state.task(node, kind, int(vmid), lambda: vm.__setitem__("status", status))
    return route


def _snapshot(state: PveState, form: dict[str, str], node: str, vmid: str) -> str:
    vm = _vm(state, vmid)
    name = form["snapname"]
    if any(s["name"] == name for s in vm["snapshots"]):
        raise ApiError(500, f"snapshot name '{name}' already used")
    return state.task(node, "qmsnapshot", int(vmid), lambda: vm["snapshots"].append(
        {"name": name, "description": form.get("description", ""), "snaptime": int(time.time())}))


def _task_status(state: PveState, form: dict[str, str], node: str, upid: str) -> dict[str, Any]:
    task = state.tasks.get(urllib.parse.unquote(upid))
    if task is None:
        raise ApiError(500, "unable to parse worker upid")
    task["polls"] += 1
    if task["polls"] == 1:
        return {"upid": upid, "status": "running", "type": task["type"], "id": task["id"], "node": node}
    return {"upid": upid, "status": "stopped", "exitstatus": task["exitstatus"], "type": task["type"],
            "id": task["id"], "node": node}


ROUTES = [
    (r"GET /nodes", lambda state, form: [{"node": n, "status": "online", "type": "node"} for n in state.nodes]),
    (r"GET /nodes/(?P<node>[^/]+)/status", lambda state, form, node: state.nodes[node]),
    (r"GET /nodes/(?P<node>[^/]+)/hardware/pci", lambda state, form, node: state.pci),
    (r"GET /nodes/(?P<node>[^/]+)/qemu", lambda state, form, node: [
        {"vmid": vmid, "name": vm["config"].get("name"), "status": vm["status"]} for vmid, vm in state.vms.items()]),
    (r"POST /nodes/(?P<node>[^/]+)/qemu", _create),
    (r"GET /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/config", lambda state, form, node, vmid: {
        **_vm(state, vmid)["config"], "digest": "0" * 40}),
    (r"(?:POST|PUT) /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/config", _set_config),
    (r"GET /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/status/current", lambda state, form, node, vmid: {
        "vmid": int(vmid), "status": _vm(state, vmid)["status"], "name": _vm(state, vmid)["config"].get("name")}),
    (r"POST /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/status/start", _power("qmstart", "running")),
    (r"POST /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/status/stop", _power("qmstop", "stopped")),
    (r"POST /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/status/shutdown", _power("qmshutdown", "stopped")),
    (r"GET /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/snapshot", lambda state, form, node, vmid: [
        *_vm(state, vmid)["snapshots"], {"name": "current", "description": "You are here!", "running": 0}]),
    (r"POST /nodes/(?P<node>[^/]+)/qemu/(?P<vmid>\d+)/snapshot", _snapshot),
    (r"GET /nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)/status", _task_status),
]
