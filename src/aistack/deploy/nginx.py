"""nginx in front of the slots, for teams that keep the seed's proxy: the config is rendered from
the slot state, and every change is checked (`nginx -t`) before nginx reloads. A config that fails
the check is never loaded: the previous file is put back.

The rendered file is a conf.d snippet (it goes inside nginx's `http` block): the seed's
`limit_req_zone`, one upstream with the serving slots and their weights (or `split_clients` for
sticky splits), TLS, X-Request-ID, proxy_read_timeout 120s and /health."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from aistack.deploy.slots import Slot
from aistack.errors import BackendUnavailable, Conflict
from aistack.settings.deploy import NginxSettings, RateLimitSettings


def address(slot: Slot) -> str:
    parts = urlsplit(slot.url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def integer_weights(slots: list[Slot]) -> dict[str, int]:
    """nginx weights are integers: the slot weights scaled so the smallest is 10 (0.9/0.1 -> 90/10)."""
    smallest = min(s.weight for s in slots)
    return {s.name: max(1, round(s.weight / smallest * 10)) for s in slots}


def render(slots: list[Slot], config: NginxSettings, limits: RateLimitSettings) -> str:
    serving = [s for s in slots if s.serving]
    if not serving:
        raise Conflict("no slot is serving: nginx would have nothing to proxy to")
    weights = integer_weights(serving)
    per_minute = f"{limits.requests_per_minute:g}r/m"
    lines = ["# Rendered by `aistack deploy nginx-config` from the slot state; changes are overwritten.",
             f"limit_req_zone $binary_remote_addr zone=llm_zone:10m rate={per_minute};", ""]
    if config.sticky:
        total = sum(weights.values())
        lines.append(f'split_clients "$http_{config.sticky_header.replace("-", "_")}$http_authorization" $llm_slot {{')
        for slot in serving[:-1]:
            lines.append(f"    {weights[slot.name] / total * 100:.2f}% llm_{slot.name};")
        lines += [f"    * llm_{serving[-1].name};", "}", ""]
        for slot in serving:
            lines += [f"upstream llm_{slot.name} {{", f"    server {address(slot)};", "    keepalive 16;", "}", ""]
        target = "http://$llm_slot"
    else:
        lines.append("upstream llm_backend {")
        lines += [f"    server {address(s)} weight={weights[s.name]};  # slot {s.name} {s.version or ''}".rstrip()
                  for s in serving]
        lines += ["    keepalive 16;", "}", ""]
        target = "http://llm_backend"
    tls = config.tls_cert and config.tls_key
    lines += ["server {", f"    listen {config.listen}{' ssl' if tls else ''};", f"    server_name {config.server_name};"]
    if tls:
        lines += [f"    ssl_certificate     {config.tls_cert};", f"    ssl_certificate_key {config.tls_key};"]
    proxy = [f"        proxy_pass {target};", "        proxy_http_version 1.1;",
             '        proxy_set_header Connection "";', "        proxy_set_header Host $host;",
             "        proxy_set_header X-Request-ID $request_id;", "        proxy_read_timeout 120s;",
             "        proxy_buffering off;  # streams pass through token by token"]
    lines += ["", "    location /v1/ {", *proxy, "",
              f"        limit_req zone=llm_zone burst={limits.burst} nodelay;", "        limit_req_status 429;",
              "    }", "", "    location /health {", f"        proxy_pass {target};", "    }", "}", ""]
    return "\n".join(lines)


class Nginx:
    """Write, check, reload; a failed check puts the previous file back and reloads nothing."""

    def __init__(self, config: NginxSettings):
        self.config = config
        self.path = Path(config.config_path) if config.config_path else None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        binary = shutil.which(self.config.binary) or self.config.binary
        main = ["-c", str(self.config.main_config)] if self.config.main_config else []
        try:
            return subprocess.run([binary, *main, *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendUnavailable(f"cannot run {binary}: {exc}") from None

    def apply(self, text: str) -> str:
        if self.path is None:
            raise Conflict("set deploy.nginx.config_path to the conf.d file nginx includes")
        previous = self.path.read_text() if self.path.exists() else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(text)
        check = self._run("-t")
        if check.returncode != 0:
            if previous is None:
                self.path.unlink()
            else:
                self.path.write_text(previous)
            raise Conflict(f"nginx -t rejected the new config, so nginx was not reloaded and the previous "
                           f"file is back: {check.stderr.strip()[-400:]}")
        reload = self._run("-s", "reload")
        if reload.returncode != 0 and ("invalid PID" in reload.stderr or "nginx.pid" in reload.stderr):
            return f"{self.path} checked; nginx is not running and reads it when it starts"
        if reload.returncode != 0:
            raise BackendUnavailable(f"nginx -s reload failed: {reload.stderr.strip()[-400:]}")
        return f"{self.path} checked and reloaded"
