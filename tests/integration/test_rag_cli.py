"""`aistack ingest | ask | collections | documents` as a user runs them: in process, and through
a gateway that holds the embedded Qdrant (when the CLI must not open it itself)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.corpus import mixed_folder
from support.servers import ServerProcess, start_gateway
from support.cli import invoke, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("rag-cli")
    server = start_gateway({"AISTACK_INGEST__MAX_UPLOAD_BYTES": "8192"}, tmp, "rag-cli")
    yield server, tmp / "home"
    server.stop()


def test_in_process_ingest_ask_collections_documents(tmp_path: Path) -> None:
    env = {"AISTACK_HOME": str(tmp_path / "home")}
    root = mixed_folder(tmp_path / "docs")
    ingested = invoke("ingest", str(root), "--collection", "guides", "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert (summary["added"], summary["failed"]) == (3, 4)

    table = invoke("ingest", str(root), "-c", "guides", env=env)  # not a terminal: one line per file
    assert table.returncode == 0
    assert f"unchanged {root / 'gpu.txt'} (1 chunks)" in table.stdout
    assert "failed" in table.stdout and "encrypted PDF" in table.stdout

    asked = invoke("ask", "Which port does Qdrant use for gRPC?", "-c", "guides", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["sources"][0]["filename"] == "ports.md" and answer["answer"].strip()
    shown = invoke("ask", "Which port does Qdrant use for gRPC?", "-c", "guides", env=env)
    assert "sources" in shown.stdout and "ports.md" in shown.stdout

    listed = json.loads(invoke("collections", "--json", env=env).stdout)
    assert [(c["name"], c["dimension"]) for c in listed] == [("guides", 384)]
    docs = json.loads(invoke("documents", "-c", "guides", "--json", env=env).stdout)
    assert sorted(d["filename"] for d in docs) == ["gpu.txt", "ops.pdf", "ports.md"]
    gone = invoke("documents", "-c", "guides", "--delete", str(root / "gpu.txt"), env=env)
    assert gone.returncode == 0 and "1 chunks" in gone.stdout
    assert invoke("collections", "delete", "guides", env=env).returncode == 0
    assert json.loads(invoke("collections", "--json", env=env).stdout) == []


def test_cli_beside_a_gateway_goes_through_its_api(gateway: tuple[ServerProcess, Path], tmp_path: Path) -> None:
    server, home = gateway
    env = {"AISTACK_HOME": str(home)}
    locked = run("collections", env=env)
    assert locked.returncode == 1 and "Traceback" not in locked.stderr
    assert "in use by another process" in locked.stderr and "--url" in locked.stderr

    root = mixed_folder(tmp_path / "docs")
    (root / "huge.txt").write_text("too big to upload " * 1000)
    via = invoke("ingest", str(root), "-c", "remote", "--url", server.url, "--json", env=env)
    assert via.returncode == 0, via.stderr
    summary = json.loads(via.stdout)
    assert (summary["added"], summary["failed"]) == (3, 5)
    huge = next(r for r in summary["results"] if r["filename"] == "huge.txt")
    assert "exceeds the limit of 8192 bytes" in huge["reason"]
    (root / "huge.txt").unlink()
    again = json.loads(invoke("ingest", str(root), "-c", "remote", "--url", server.url, "--json", env=env).stdout)
    assert again["unchanged"] == 3
    asked = invoke("ask", "How many daily snapshots are kept?", "-c", "remote", "--url", server.url, "--json", env=env)
    assert json.loads(asked.stdout)["sources"][0]["filename"] == "ops.pdf"
    docs = json.loads(invoke("documents", "-c", "remote", "--url", server.url, "--json", env=env).stdout)
    assert str(root / "guides" / "ops.pdf") in {d["source"] for d in docs}
    missing = invoke("ask", "x", "-c", "nope-missing", "--url", server.url, env=env)
    assert missing.returncode == 1 and "collection 'nope-missing' does not exist" in missing.stderr


def test_ingest_of_a_missing_path_is_a_message(tmp_path: Path) -> None:
    result = invoke("ingest", str(tmp_path / "nowhere"), env={"AISTACK_HOME": str(tmp_path)})
    assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr
