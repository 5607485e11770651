"""Settings of the Proxmox VE API (the agents' node-status tool, `aistack infra plan|apply`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from aistack.settings.section import Section


class ProxmoxSettings(Section):
    host: str = Field("127.0.0.1", description="Proxmox VE API host.")
    port: int = Field(8006, ge=1, le=65535, description="Proxmox VE API port.")
    user: str = Field("root@pam", description="User the API token belongs to.")
    token_name: str = Field("aistack", description="API token id (Datacenter > Permissions > API Tokens).")
    token_value: SecretStr | None = Field(None, description="API token secret.")
    token_value_file: Path | None = Field(None, description="File holding the API token secret.")
    verify_ssl: bool = Field(True, description="Verify the API's TLS certificate.")
    ca_bundle: Path | None = Field(None, description="CA file to verify the certificate with (/etc/pve/pve-root-ca.pem).")
    nodes: list[str] = Field(default_factory=list, description="The cluster's nodes (offered to agents as a choice).")
    timeout: float = Field(15, gt=0, description="Seconds one API request may take.")
    task_timeout: float = Field(600, gt=0, description="Seconds `infra apply` waits for one task (create, start).")
