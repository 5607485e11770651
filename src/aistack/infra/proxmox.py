"""The Proxmox VE API client, with API-token auth and verified TLS (settings.proxmox)."""

from __future__ import annotations

from typing import Any

from aistack.settings.infra import ProxmoxSettings


class ProxmoxConfigError(Exception):
    pass


def proxmox_api(config: ProxmoxSettings) -> Any:
    from proxmoxer import ProxmoxAPI

    if config.token_value is None:
        raise ProxmoxConfigError("no Proxmox API token: set proxmox.token_value (or proxmox.token_value_file)")
    verify: bool | str = str(config.ca_bundle) if config.ca_bundle else config.verify_ssl
    return ProxmoxAPI(config.host, port=config.port, user=config.user, token_name=config.token_name,
                      token_value=config.token_value.get_secret_value(), verify_ssl=verify, timeout=config.timeout)
