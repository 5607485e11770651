"""A Proxmox VE API test server: no Proxmox VE can run here, so the tests talk to this one.

It follows the documented API (https://pve.proxmox.com/pve-docs/api-viewer/): HTTPS on its own
self-signed certificate, JSON under /api2/json wrapped as {"data": ...}, API-token auth in the
header `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET` (401 otherwise), and the
shapes of GET /nodes and GET /nodes/{node}/status as a PVE 8 node returns them."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
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


@dataclass
class PveState:
    token: str  # the full header value after "PVEAPIToken="
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth header


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
                auth = self.headers.get("Authorization", "")
                state.requests.append(("GET", self.path, auth))
                if auth != f"PVEAPIToken={state.token}":
                    return self.reply(401, None, "authentication failure")
                if self.path == "/api2/json/nodes":
                    return self.reply(200, [{"node": n, "status": "online", "type": "node"} for n in state.nodes])
                found = re.fullmatch(r"/api2/json/nodes/([^/]+)/status", self.path)
                if found:
                    node = found.group(1)
                    if node not in state.nodes:
                        return self.reply(595, None, f"no such cluster node '{node}'")
                    return self.reply(200, state.nodes[node])
                self.reply(501, None, f"Method 'GET {self.path.removeprefix('/api2/json')}' not implemented")

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
