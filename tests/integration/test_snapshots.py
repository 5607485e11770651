"""Snapshots to a real S3 API (moto_server): a restore brings back exactly the same points, on
embedded Qdrant and on a Chroma server; prune keeps 7 daily and 4 weekly; the CLI drives it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from support.corpus import mixed_folder
from support.pgvector_server import pgvector_server
from support.servers import ServerProcess, start_chroma, start_moto
from support.cli import invoke
from support.wire import check

from aistack.principals import OPERATOR
from aistack.container import Container
from aistack.settings.model import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_chroma(tmp_path_factory.mktemp("chroma-snap"))
    yield server
    server.stop()


def s3_settings(s3: ServerProcess, bucket: str) -> dict:
    return {"endpoint_url": s3.url, "bucket": bucket, "access_key": "test", "secret_key": "test"}


def snapshot_env(s3: ServerProcess, bucket: str) -> dict[str, str]:
    return {f"AISTACK_SNAPSHOTS__{k.upper()}": v for k, v in s3_settings(s3, bucket).items()}


def exact(points) -> dict[str, tuple]:
    return {p.id: (np.asarray(p.vector, dtype=np.float32), p.text, json.dumps(p.payload, sort_keys=True))
            for p in points}


def assert_same(after: dict[str, tuple], before: dict[str, tuple]) -> None:
    """IDs, texts and payloads exact; vectors to within 1e-6, because both
    stores normalise cosine vectors on write, which can move a unit vector by one float32 ulp."""
    assert after.keys() == before.keys()
    for id_, (vector, *rest) in before.items():
        assert after[id_][1:] == tuple(rest)
        assert np.allclose(after[id_][0], vector, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def pgvector_url() -> Iterator[str]:
    with pgvector_server() as url:
        yield url


def store_settings(backend: str, request: pytest.FixtureRequest) -> dict:
    if backend == "chroma":
        return {"backend": backend, "chroma": {"url": request.getfixturevalue("chroma").url}}
    if backend == "pgvector":
        return {"backend": backend, "pgvector": {"url": request.getfixturevalue("pgvector_url")}}
    return {"backend": backend}


@pytest.mark.parametrize("backend", ["qdrant", "chroma", "pgvector"])
def test_restore_brings_back_exactly_the_same_points(backend: str, s3: ServerProcess, request: pytest.FixtureRequest,
                                                     tmp_path: Path) -> None:
    config = {"home": str(tmp_path / "home"), "snapshots": s3_settings(s3, f"snap-{backend}"),
              "vectorstore": store_settings(backend, request)}
    c = Container(Settings.model_validate(config))
    try:
        c.knowledge.ingestor.ingest_path(f"kb-{backend}", mixed_folder(tmp_path / "docs"))
        before = exact(c.store.points(f"kb-{backend}"))
        snap = c.snapshots.create(OPERATOR, f"kb-{backend}")
        assert snap.kind == "aistack" and snap.size > 0
        assert [s.key for s in c.snapshots.list(OPERATOR, f"kb-{backend}")] == [snap.key]

        c.store.delete_collection(f"kb-{backend}")
        restored = c.snapshots.restore(OPERATOR, snap.key)
        assert restored == {"key": snap.key, "collection": f"kb-{backend}", "points": len(before)}
        assert_same(exact(c.store.points(f"kb-{backend}")), before)
        assert c.store.describe(f"kb-{backend}").metadata["embedder"] == "all-MiniLM-L6-v2"

        copy = c.snapshots.restore(OPERATOR, snap.key, f"kb-{backend}-copy")
        assert copy["points"] == len(before)
        assert_same(exact(c.store.points(f"kb-{backend}-copy")), before)
    finally:
        for name in (f"kb-{backend}", f"kb-{backend}-copy"):
            try:
                c.store.delete_collection(name)
            except Exception:
                pass
        c.store.close()


def corrupt(archive_bytes: bytes, line: int) -> bytes:
    """The same archive with one points.jsonl line cut in half."""
    import io
    import tarfile

    source = tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz")
    members = {m.name: source.extractfile(m).read() for m in source.getmembers()}
    lines = members["points.jsonl"].decode().splitlines()
    lines[line] = lines[line][: len(lines[line]) // 2]
    members["points.jsonl"] = "\n".join(lines).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return out.getvalue()


def test_a_corrupt_snapshot_restores_nothing_and_leaves_the_collection_whole(s3: ServerProcess, tmp_path: Path) -> None:
    from aistack.errors import InvalidRequest
    from aistack.snapshots import archive

    c = Container(Settings.model_validate({"home": str(tmp_path / "home"), "snapshots": s3_settings(s3, "corrupt")}))
    try:
        c.knowledge.ingestor.ingest_path("kb-whole", mixed_folder(tmp_path / "docs"))
        before = exact(c.store.points("kb-whole"))
        snap = c.snapshots.create(OPERATOR, "kb-whole")
        good = c.snapshots.s3(lambda s3: s3.get_object(Bucket="corrupt", Key=snap.key)["Body"].read())
        bad = corrupt(good, line=len(before) // 2)
        c.snapshots.s3(lambda s3: s3.put_object(Bucket="corrupt", Key=snap.key, Body=bad))
        with pytest.raises(InvalidRequest, match="corrupt"):
            c.snapshots.restore(OPERATOR, snap.key)
        assert_same(exact(c.store.points("kb-whole")), before)  # every point still there (it used to keep about half)
        assert [info.name for info in c.store.list_collections()] == ["kb-whole"]  # no staging copy left behind
        with pytest.raises(InvalidRequest, match="not a snapshot key"):
            c.snapshots.restore(OPERATOR, "elsewhere/kb-whole/20260101T000000000000Z.tar.gz")
        assert archive.restore(c.store, good, "kb-whole") == len(before)  # the good archive still restores
        assert_same(exact(c.store.points("kb-whole")), before)
    finally:
        c.store.close()


def test_prune_keeps_seven_daily_and_four_weekly(s3: ServerProcess, tmp_path: Path) -> None:
    c = Container(Settings.model_validate({"home": str(tmp_path), "snapshots": s3_settings(s3, "prune")}))
    now = datetime.now(timezone.utc).replace(hour=2, minute=0, second=0, microsecond=0)
    keys = {}
    for n in range(40):
        when = now - timedelta(days=n)
        keys[when] = f"qdrant/docs/{when.strftime('%Y%m%dT%H%M%S%fZ')}.tar.gz"
        c.snapshots.s3(lambda s3, key=keys[when]: s3.put_object(Bucket="prune", Key=key, Body=b"x"))
    c.snapshots.s3(lambda s3: s3.put_object(Bucket="prune", Key="qdrant/docs/not-a-snapshot.txt", Body=b"x"))
    preview = c.snapshots.prune(OPERATOR, dry_run=True)
    newest_week = sorted(keys)[-7:]
    older = [when for when in keys if keys[when] in preview["kept"] and when not in newest_week]
    assert {keys[w] for w in newest_week} <= set(preview["kept"])
    # older keepers are the newest of their ISO week (a Sunday), and the 4 weeks include this one
    assert all(w.isoweekday() == 7 for w in older) and 1 <= len(older) <= 3
    assert len({w.isocalendar()[:2] for w in older} | {now.isocalendar()[:2]}) == len(older) + 1
    assert len(preview["kept"]) + len(preview["deleted"]) == 40
    assert len(c.snapshots.list(OPERATOR, "docs")) == 40
    c.snapshots.prune(OPERATOR)
    assert sorted(s.key for s in c.snapshots.list(OPERATOR, "docs")) == preview["kept"]
    c.store.close()


def test_snapshot_cli_in_process(s3: ServerProcess, tmp_path: Path) -> None:
    env = {"AISTACK_HOME": str(tmp_path / "home"), **snapshot_env(s3, "cli")}
    assert invoke("ingest", str(mixed_folder(tmp_path / "docs")), "-c", "guides", env=env).returncode == 0
    made = invoke("snapshot", "create", "--json", env=env)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)[0]["key"]
    listed = json.loads(invoke("snapshot", "list", "--json", env=env).stdout)
    assert [s["key"] for s in listed] == [key]
    restored = invoke("snapshot", "restore", key, "-c", "guides-restored", env=env)
    assert restored.returncode == 0 and "restored" in restored.stdout
    names = [c["name"] for c in json.loads(invoke("collections", "--json", env=env).stdout)]
    assert names == ["guides", "guides-restored"]
    bad = invoke("snapshot", "restore", "qdrant/guides/nope.tar.gz", env=env)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert invoke("snapshot", "prune", "--dry-run", env=env).returncode == 0


def test_unreachable_snapshot_store_is_a_message(tmp_path: Path) -> None:
    env = {"AISTACK_HOME": str(tmp_path), "AISTACK_SNAPSHOTS__ENDPOINT_URL": "http://127.0.0.1:9",
           "AISTACK_SNAPSHOTS__ACCESS_KEY": "a", "AISTACK_SNAPSHOTS__SECRET_KEY": "b"}
    result = invoke("snapshot", "list", env=env)
    said = " ".join(result.stderr.split())
    assert result.returncode == 1 and "the snapshot store cannot be used" in said, result.stderr
    assert "127.0.0.1:9" in said and "Traceback" not in said  # in process, the operator sees the reason


def test_snapshot_api_on_a_gateway_that_holds_the_store(s3: ServerProcess, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from aistack.gateway.app import create_app

    settings = Settings.model_validate({"home": str(tmp_path), "llm": {"backend": "fake"},
                                        "snapshots": s3_settings(s3, "api")})
    app = create_app(Container(settings))
    with TestClient(app) as http:
        http.post("/v1/collections/notes/documents", json={"text": "The VPN certificate is valid for 365 days."})
        made = http.post("/v1/snapshots", json={"collection": "notes"})
        assert made.status_code == 201
        key = check(app, made)["data"][0]["key"]
        assert [s["key"] for s in check(app, http.get("/v1/snapshots"))["data"]] == [key]
        http.delete("/v1/collections/notes")
        restored = check(app, http.post("/v1/snapshots/restore", json={"key": key}))
        assert restored == {"key": key, "collection": "notes", "points": 1}
        hits = http.post("/v1/retrieve", json={"query": "How long is the VPN certificate valid?",
                                               "collection": "notes"}).json()["data"]
        assert "365 days" in hits[0]["text"]
        assert check(app, http.post("/v1/snapshots/prune", json={"dry_run": True})) == {"kept": [key], "deleted": []}
        assert http.post("/v1/snapshots/restore", json={"key": "elsewhere/x.tar.gz"}).status_code == 400
        assert http.post("/v1/snapshots/restore", json={"key": "qdrant/notes/20200101T000000000000Z.tar.gz"}).status_code == 404
