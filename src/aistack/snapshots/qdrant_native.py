"""Snapshots of a Qdrant server through its own snapshot API (create, download, upload-restore).

Not exercised by the test suite: no Qdrant server binary can be installed offline here. The
calls follow Qdrant's REST reference (POST /collections/{c}/snapshots, GET .../snapshots/{s},
POST /collections/{c}/snapshots/upload?priority=snapshot)."""

from __future__ import annotations

import httpx

from aistack.settings.data import QdrantSettings


class QdrantSnapshots:
    def __init__(self, config: QdrantSettings):
        headers = {"api-key": config.api_key.get_secret_value()} if config.api_key else {}
        self.http = httpx.Client(base_url=config.url.rstrip("/"), headers=headers, timeout=600)

    def _ok(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise RuntimeError(f"Qdrant answered {response.status_code}: {response.text[:300]}")
        return response

    def create(self, collection: str) -> bytes:
        made = self._ok(self.http.post(f"/collections/{collection}/snapshots", params={"wait": "true"}))
        name = made.json()["result"]["name"]
        try:
            return self._ok(self.http.get(f"/collections/{collection}/snapshots/{name}")).content
        finally:
            self.http.delete(f"/collections/{collection}/snapshots/{name}")

    def restore(self, collection: str, data: bytes) -> None:
        self._ok(self.http.post(f"/collections/{collection}/snapshots/upload",
                                params={"priority": "snapshot", "wait": "true"},
                                files={"snapshot": (f"{collection}.snapshot", data)}))

    def close(self) -> None:
        self.http.close()
