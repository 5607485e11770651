"""Collections, documents, ingest and answers for the CLI: a running gateway over HTTP, or the
knowledge service in this process. Both give the API's shapes: collection and document dicts,
per-file ingest results, and answer chunks (chat.completion.chunk, the first carrying `sources`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from aistack.client.http import ClientError, Gateway, error_message
from aistack.client.local import Local, guard
from aistack.container import Container
from aistack.knowledge import collections
from aistack.knowledge.ingest import FileResult
from aistack.knowledge.loaders import discover
from aistack.knowledge.pipeline import Question
from aistack.wire.knowledge import RetrievalOptions

Progress = Callable[[dict[str, Any]], None]


class KnowledgeClient(Protocol):
    def collections(self) -> list[dict[str, Any]]: ...
    def create_collection(self, name: str, **options: Any) -> dict[str, Any]: ...
    def delete_collection(self, name: str) -> None: ...
    def documents(self, collection: str) -> list[dict[str, Any]]: ...
    def delete_document(self, collection: str, source: str) -> int: ...
    def ingest(self, collection: str, files: list[Path], progress: Progress) -> list[dict[str, Any]]: ...
    def ask(self, question: str, options: RetrievalOptions, model: str | None) -> Iterator[dict[str, Any]]: ...
    def close(self) -> None: ...


def files_to_ingest(root: Path, include: list[str], exclude: list[str]) -> list[Path]:
    if not root.exists():
        raise ClientError(f"{root} does not exist")
    return [p.resolve() for p in discover(root, include, exclude)]


def failed(path: Path, reason: str) -> dict[str, Any]:
    return vars(FileResult(str(path), path.name, "failed", reason=reason))


class GatewayKnowledge(Gateway):
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 600.0):
        super().__init__(url, api_key, timeout)

    def collections(self) -> list[dict[str, Any]]:
        return self.call("GET", "/v1/collections")["data"]

    def create_collection(self, name: str, **options: Any) -> dict[str, Any]:
        return self.call("POST", "/v1/collections", json={"name": name, **options})

    def delete_collection(self, name: str) -> None:
        self.call("DELETE", f"/v1/collections/{name}")

    def documents(self, collection: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/v1/collections/{collection}/documents")["data"]

    def delete_document(self, collection: str, source: str) -> int:
        return self.call("DELETE", f"/v1/collections/{collection}/documents", params={"source": source})["chunks_removed"]

    def ingest(self, collection: str, files: list[Path], progress: Progress) -> list[dict[str, Any]]:
        """One upload per file, named by its absolute path, so re-ingesting a file replaces it."""
        results = []
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                result = failed(path, f"cannot read the file: {exc.strerror}")
            else:
                result = self._upload(collection, path, data)
            results.append(result)
            progress(result)
        return results

    def _upload(self, collection: str, path: Path, data: bytes) -> dict[str, Any]:
        """One file's result; a file the gateway refuses (too large, say) fails alone."""
        response = self.send("POST", f"/v1/collections/{collection}/documents", files={"files": (str(path), data)})
        if response.status_code == 413:
            return failed(path, error_message(response))
        if response.status_code >= 400:
            raise ClientError(f"{self.url} answered {response.status_code}: {error_message(response)}")
        return response.json()["results"][0]

    def ask(self, question: str, options: RetrievalOptions, model: str | None) -> Iterator[dict[str, Any]]:
        body = {"question": question, "stream": True, "model": model, **options.model_dump(exclude_none=True)}
        return self.events("/v1/rag/answer", body)


class LocalKnowledge(Local):
    """The knowledge service in this process; the LLM is loaded only to answer."""

    def __init__(self, container: Container):
        super().__init__(container)
        self.knowledge = guard(lambda: container.knowledge)  # opens the store: a locked one fails here

    def collections(self) -> list[dict[str, Any]]:
        return [collections.as_json(c) for c in self.run(self.knowledge.collections(self.caller))]

    def create_collection(self, name: str, **options: Any) -> dict[str, Any]:
        return collections.as_json(self.run(self.knowledge.create_collection(self.caller, name, **options)))

    def delete_collection(self, name: str) -> None:
        self.run(self.knowledge.delete_collection(self.caller, name))

    def documents(self, collection: str) -> list[dict[str, Any]]:
        return [vars(d) for d in self.run(self.knowledge.documents(self.caller, collection))]

    def delete_document(self, collection: str, source: str) -> int:
        return self.run(self.knowledge.delete_document(self.caller, collection, source))

    def ingest(self, collection: str, files: list[Path], progress: Progress) -> list[dict[str, Any]]:
        summary = self.run(self.knowledge.ingest_files(self.caller, collection, files, lambda r: progress(vars(r))))
        return [vars(r) for r in summary.files]

    def ask(self, question: str, options: RetrievalOptions, model: str | None) -> Iterator[dict[str, Any]]:
        async def open_stream() -> Any:
            await self.container.start_llm()
            return await self.knowledge.answer_stream(self.caller, Question(question, model, stream=True), options)

        return self.iterate(self.run(open_stream()))
