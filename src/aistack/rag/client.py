"""What the RAG commands talk to: a running gateway over HTTP, or the services in this process.

Both give the same shapes: collection and document dicts as the API returns them, ingest
summaries, and answer chunks (chat.completion.chunk, the first carrying `sources`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx

from aistack.client import ClientError, EventLoop, check_response, sse_chunks
from aistack.container import Container
from aistack.errors import AistackError
from aistack.ingest.loaders import discover
from aistack.ingest.pipeline import FileResult, load_or_error
from aistack.llm.protocol import ChatCompletionRequest
from aistack.rag import collections
from aistack.rag.retrieve import RetrievalOptions

Progress = Callable[[dict[str, Any]], None]


class RagClient(Protocol):
    def collections(self) -> list[dict[str, Any]]: ...
    def create_collection(self, name: str, **options: Any) -> dict[str, Any]: ...
    def delete_collection(self, name: str) -> None: ...
    def documents(self, collection: str) -> list[dict[str, Any]]: ...
    def delete_document(self, collection: str, source: str) -> int: ...
    def ingest(self, collection: str, files: list[Path], progress: Progress) -> list[dict[str, Any]]: ...
    def ask(self, question: str, options: RetrievalOptions, model: str | None) -> Iterator[dict[str, Any]]: ...
    def snapshot_create(self, collection: str | None) -> list[dict[str, Any]]: ...
    def snapshot_list(self, collection: str | None) -> list[dict[str, Any]]: ...
    def snapshot_restore(self, key: str, target: str | None) -> dict[str, Any]: ...
    def snapshot_prune(self, dry_run: bool) -> dict[str, list[str]]: ...
    def close(self) -> None: ...


def files_to_ingest(root: Path, include: list[str], exclude: list[str]) -> list[Path]:
    if not root.exists():
        raise ClientError(f"{root} does not exist")
    return [p.resolve() for p in discover(root, include, exclude)]


class GatewayRagClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 600.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the gateway at {self.url}: {exc}") from None
        check_response(self.url, response)
        return response.json()

    def collections(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/collections")["data"]

    def create_collection(self, name: str, **options: Any) -> dict[str, Any]:
        return self._call("POST", "/v1/collections", json={"name": name, **options})

    def delete_collection(self, name: str) -> None:
        self._call("DELETE", f"/v1/collections/{name}")

    def documents(self, collection: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/v1/collections/{collection}/documents")["data"]

    def delete_document(self, collection: str, source: str) -> int:
        return self._call("DELETE", f"/v1/collections/{collection}/documents", params={"source": source})["chunks_removed"]

    def ingest(self, collection: str, files: list[Path], progress: Progress) -> list[dict[str, Any]]:
        """One upload per file, named by its absolute path, so re-ingesting a file replaces it."""
        results = []
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                result = vars(FileResult(str(path), path.name, "failed", reason=f"cannot read the file: {exc.strerror}"))
            else:
                result = self._upload(collection, path, data)
            results.append(result)
            progress(result)
        return results

    def _upload(self, collection: str, path: Path, data: bytes) -> dict[str, Any]:
        """One file's result; a file the gateway refuses (too large, say) fails alone."""
        try:
            response = self.http.post(f"/v1/collections/{collection}/documents", files={"files": (str(path), data)})
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the gateway at {self.url}: {exc}") from None
        if response.status_code == 413:
            reason = response.json().get("error", {}).get("message", response.text[:200])
            return vars(FileResult(str(path), path.name, "failed", reason=reason))
        check_response(self.url, response)
        return response.json()["results"][0]

    def ask(self, question: str, options: RetrievalOptions, model: str | None) -> Iterator[dict[str, Any]]:
        body = {"question": question, "stream": True, "model": model, **options.model_dump(exclude_none=True)}
        yield from sse_chunks(self.http, self.url, "/v1/rag/answer", body)

    def snapshot_create(self, collection: str | None) -> list[dict[str, Any]]:
        return self._call("POST", "/v1/snapshots", json={"collection": collection})["data"]

    def snapshot_list(self, collection: str | None) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/snapshots", params={"collection": collection} if collection else {})["data"]

    def snapshot_restore(self, key: str, target: str | None) -> dict[str, Any]:
        return self._call("POST", "/v1/snapshots/restore", json={"key": key, "collection": target})

    def snapshot_prune(self, dry_run: bool) -> dict[str, list[str]]:
        return self._call("POST", "/v1/snapshots/prune", json={"dry_run": dry_run})

    def close(self) -> None:
        self.http.close()


class InProcessRagClient(EventLoop):
    """The vector store and embedder in this process; the LLM is loaded only to answer."""

    def __init__(self, container: Container):
        super().__init__()
        self.container = container
        self._guard(lambda: container.store)

    @staticmethod
    def _guard(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except AistackError as exc:
            raise ClientError(exc.message) from None

    def collections(self) -> list[dict[str, Any]]:
        return [collections.as_json(c) for c in self._guard(self.container.store.list_collections)]

    def create_collection(self, name: str, **options: Any) -> dict[str, Any]:
        c = self.container
        return collections.as_json(self._guard(lambda: collections.create(c.store, c.embedder, name, **options)))

    def delete_collection(self, name: str) -> None:
        self._guard(lambda: self.container.store.delete_collection(collections.check_name(name)))

    def documents(self, collection: str) -> list[dict[str, Any]]:
        return [vars(d) for d in self._guard(lambda: self.container.store.documents(collections.check_name(collection)))]

    def delete_document(self, collection: str, source: str) -> int:
        store = self.container.store
        ids = self._guard(lambda: store.ids_for_source(collections.check_name(collection), source))
        store.delete_ids(collection, ids)
        return len(ids)

    def ingest(self, collection: str, files: list[Path], progress: Progress) -> list[dict[str, Any]]:
        ingestor = self._guard(lambda: self.container.ingestor)
        summary = self._guard(lambda: ingestor.ingest(collection, (load_or_error(p) for p in files),
                                                      lambda r: progress(vars(r))))
        return [vars(r) for r in summary.files]

    def ask(self, question: str, options: RetrievalOptions, model: str | None) -> Iterator[dict[str, Any]]:
        c = self.container
        model = model or c.settings.rag.model or c.default_model()
        request = ChatCompletionRequest.model_validate({
            "model": model or "default", "messages": [{"role": "user", "content": question}], "stream": True,
            "stream_options": {"include_usage": True}})

        async def open_stream() -> Any:
            await c.llm.start()
            return await c.rag.chat_stream(request, options)

        yield from self._iterate(self._run(open_stream()))

    def snapshot_create(self, collection: str | None) -> list[dict[str, Any]]:
        service = self.container.snapshots
        made = self._guard(lambda: [service.create(collection)] if collection else service.create_all())
        return [s.as_dict() for s in made]

    def snapshot_list(self, collection: str | None) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self._guard(lambda: self.container.snapshots.list(collection))]

    def snapshot_restore(self, key: str, target: str | None) -> dict[str, Any]:
        return self._guard(lambda: self.container.snapshots.restore(key, target))

    def snapshot_prune(self, dry_run: bool) -> dict[str, list[str]]:
        return self._guard(lambda: self.container.snapshots.prune(dry_run))

    def close(self) -> None:
        self.runner.run(self.container.close())
        self.runner.close()
