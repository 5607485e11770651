"""The seed's tools, made safe: endpoints come from settings (the model cannot point a tool at
another host), Proxmox is read through its API with a token instead of by shelling out to
`pvesh`, and a restart takes a service from an allowlist, as a list of arguments, with no shell."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from typing import Annotated, Any

import httpx
from pydantic import Field

from aistack.agents.tools import ToolContext, ToolError, tool
from aistack.infra.proxmox import ProxmoxConfigError, proxmox_api

NODE_NAME = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"
SERVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
MAX_SERIES = 20
log = logging.getLogger("aistack.agents")


@tool(scope="deploy")
def query_prometheus(query: Annotated[str, Field(min_length=1, max_length=300,
                                                 description="A PromQL expression, such as up or node_memory_MemAvailable_bytes")],
                     context: ToolContext) -> dict[str, Any]:
    """Run a PromQL query against the monitoring stack and return the current values."""
    url = context.settings.agents.prometheus_url.rstrip("/") + "/api/v1/query"
    try:
        response = httpx.get(url, params={"query": query}, timeout=context.settings.agents.tool_timeout)
    except httpx.HTTPError as exc:
        log.warning("Prometheus at %s is unreachable: %s", context.settings.agents.prometheus_url, exc)
        raise ToolError("Prometheus (agents.prometheus_url) is unreachable") from None  # its address stays here
    try:
        body = response.json()
    except ValueError:
        raise ToolError(f"Prometheus answered {response.status_code} without JSON") from None
    if body.get("status") != "success":
        raise ToolError(f"Prometheus rejected the query ({body.get('errorType')}): {body.get('error')}")
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return {"type": data["resultType"], "value": data["result"][1]}
    series = [{"metric": item["metric"], "value": item["value"][1] if "value" in item else item["values"][-1][1]}
              for item in data["result"][:MAX_SERIES]]
    return {"type": data["resultType"], "series": series, "total_series": len(data["result"])}


def _percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def offer(field: str, choices: Callable[[ToolContext], list[str]]) -> Callable[[dict[str, Any], ToolContext], None]:
    """A schema edit: the field becomes an enum of the configured choices, so a grammar-constrained
    call names one of them (no edit when none are configured)."""

    def narrow(schema: dict[str, Any], context: ToolContext) -> None:
        values = choices(context)
        if values:
            prop = schema["properties"][field]
            prop.pop("pattern", None)
            prop["enum"] = list(values)

    return narrow


@tool(narrow=offer("node", lambda context: context.settings.proxmox.nodes), scope="deploy")
def check_proxmox_node_status(node: Annotated[str, Field(pattern=NODE_NAME, description="Proxmox node name, such as pve1")],
                              context: ToolContext) -> dict[str, Any]:
    """Check resource utilisation of a Proxmox node: CPU, memory, swap, root disk, load and uptime."""
    from proxmoxer.core import ResourceException
    from requests.exceptions import RequestException

    try:
        status = proxmox_api(context.settings.proxmox).nodes(node).status.get()
    except ProxmoxConfigError as exc:
        raise ToolError(str(exc)) from None
    except ResourceException as exc:
        raise ToolError(f"Proxmox API refused /nodes/{node}/status: {exc.status_code} {exc.content}") from None
    except RequestException as exc:
        raise ToolError(f"Proxmox API unreachable: {exc}") from None
    memory, swap, rootfs = status.get("memory", {}), status.get("swap", {}), status.get("rootfs", {})
    return {
        "node": node,
        "cpu_percent": round(100 * float(status.get("cpu", 0)), 1),
        "cpus": status.get("cpuinfo", {}).get("cpus"),
        "loadavg": status.get("loadavg"),
        "memory_used_percent": _percent(memory.get("used", 0), memory.get("total", 0)),
        "memory_free_gib": round(memory.get("free", 0) / 2**30, 2),
        "memory_total_gib": round(memory.get("total", 0) / 2**30, 2),
        "swap_used_percent": _percent(swap.get("used", 0), swap.get("total", 0)),
        "rootfs_used_percent": _percent(rootfs.get("used", 0), rootfs.get("total", 0)),
        "uptime_hours": round(status.get("uptime", 0) / 3600, 1),
        "pveversion": status.get("pveversion"),
    }


def _allowed(arguments: Any, context: ToolContext) -> None:
    allowed = context.settings.agents.docker.allowed_services
    if arguments.service_name not in allowed:
        raise ToolError(f"'{arguments.service_name}' is not on the allowlist of restartable services "
                        f"(agents.docker.allowed_services: {', '.join(allowed) or 'none'})")


@tool(destructive=True, precheck=_allowed, scope="deploy", timeout=lambda context: context.settings.agents.docker.timeout + 5,
      narrow=offer("service_name", lambda context: context.settings.agents.docker.allowed_services))
def restart_docker_service(service_name: Annotated[str, Field(pattern=SERVICE_NAME, description="Compose service to restart")],
                           context: ToolContext) -> str:
    """Restart a Docker Compose service of the stack. Needs a person's approval."""
    config = context.settings.agents.docker
    command = [*config.command, "-f", str(config.compose_dir / "docker-compose.yml"), "restart", service_name]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=config.timeout, shell=False)
    except FileNotFoundError:
        raise ToolError(f"{config.command[0]} is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"the restart took longer than {config.timeout:g} s") from None
    if done.returncode != 0:
        raise ToolError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-500:]}")
    return f"restarted {service_name}: {(done.stdout + done.stderr).strip()[-500:]}"


@tool(scope="rag:read")
def search_knowledge_base(query: Annotated[str, Field(min_length=1, max_length=300,
                                                      description="What to look up in the runbooks and docs")],
                          context: ToolContext) -> list[dict[str, Any]]:
    """Search the team's documents (runbooks, docs) and return the best passages with their sources."""
    if context.search is None:
        raise ToolError("the knowledge base is not available here")
    config = context.settings.agents
    collection = config.knowledge_collection
    found = context.search(context.caller, query, collection, config.knowledge_top_k)
    if not found:
        return [{"note": f"nothing relevant in collection '{collection}'"}]
    return [{**passage, "text": passage["text"][:600]} for passage in found]
