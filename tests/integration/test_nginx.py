"""Debian's nginx in front of two slots, managed by the deployer: the rendered config passes
`nginx -t`, a switch rewrites it and reloads, a 9:1 canary splits 9:1, the seed's limit_req
answers 429, and a config nginx rejects is never loaded. The two slots are small OpenAI-shaped
HTTP servers in this test that say which slot answered (nginx is what is under test here; the
gateway's own switch is tested with real aistack slots in test_deploy.py)."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from support.http_stub import JsonHandler, serve
from support.servers import ServerProcess, free_port

from aistack.deploy.bluegreen import Deployer
from aistack.deploy.nginx import Nginx, render
from aistack.deploy.slots import SlotStore
from aistack.deploy.view import SlotView
from aistack.llm.routing import SlotRouter
from aistack.deploy.runtimes import Runtimes
from aistack.deploy.slots import Slot
from aistack.errors import Conflict
from aistack.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]  # Debian's nginx: .ci/run installs it


def slot_server(name: str) -> ThreadingHTTPServer:
    class Handler(JsonHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: no keep-alive races in a test server

        def do_GET(self) -> None:  # noqa: N802
            self.send_json({"object": "list", "data": [{"id": "m", "object": "model"}], "slot": name})

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_json({"object": "chat.completion", "slot": name, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": f"ready from {name}"},
                 "finish_reason": "stop"}]})

    return serve(Handler)[0]


MAIN = """user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/conf.d/llm.conf;
}}
"""


class Stack:
    def __init__(self, tmp: Path):
        self.port = free_port()
        (tmp / "main.conf").write_text(MAIN.format(tmp=tmp))
        self.settings = Settings(home=tmp / "home")
        self.settings.deploy.nginx = self.settings.deploy.nginx.model_copy(update={
            "enabled": True, "config_path": tmp / "conf.d" / "llm.conf", "main_config": tmp / "main.conf",
            "listen": f"127.0.0.1:{self.port}", "server_name": "localhost", "tls_cert": None, "tls_key": None})
        self.servers = {name: slot_server(name) for name in ("blue", "green")}
        self.store = SlotStore(self.settings.home / "deploy" / "state.db")
        view = SlotView(self.store, self.settings.deploy)
        self.router = SlotRouter(view, self.settings.llm.openai)
        for name, server in self.servers.items():
            self.store.put(Slot(name, f"http://127.0.0.1:{server.server_port}/v1", version=name), "test")
        self.deployer = Deployer(view, self.router, Runtimes(self.settings.home), self.settings.deploy)
        self.url = f"http://127.0.0.1:{self.port}"
        self.nginx: ServerProcess | None = None

    def start_nginx(self) -> None:
        args = ["nginx", "-c", str(self.settings.deploy.nginx.main_config), "-g", "daemon off;"]
        self.nginx = ServerProcess(args, self.port, "/health", log=self.settings.home / "nginx.log")

    def settle(self, expect: str) -> None:
        """nginx -s reload signals the master, which starts new workers and then tells the old ones
        to stop accepting: wait until 10 answers in a row come from the new configuration (one
        was not enough under load: an old worker still took a connection after it)."""
        deadline = time.monotonic() + 20
        while self.who(10) != {expect: 10} and time.monotonic() < deadline:
            time.sleep(0.1)

    def who(self, count: int, **headers: str) -> Counter[str]:
        # A connection per request: a reload later in a deployment (rollback reloads twice) closes
        # the idle keep-alive connections of the old workers, which a reused connection would hit.
        headers = {"Connection": "close", **headers}
        with httpx.Client(base_url=self.url, timeout=10) as http:
            # /health goes through the same upstream without limit_req, so counting never hits the limit
            return Counter(http.get("/health", headers=headers).json()["slot"] for _ in range(count))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    yield stack
    if stack.nginx:
        stack.nginx.stop()
    for server in stack.servers.values():
        server.shutdown()


async def test_switch_canary_limits_and_a_rejected_config(stack: Stack) -> None:
    first = await stack.deployer.deploy("blue", "test")
    assert first.ok and [s.name for s in first.steps][-1] == "switch", first.as_json()
    config = stack.settings.deploy.nginx.config_path.read_text()
    assert "limit_req_zone $binary_remote_addr zone=llm_zone:10m rate=30r/m;" in config
    assert "proxy_read_timeout 120s;" in config and "X-Request-ID $request_id" in config
    stack.start_nginx()
    assert stack.who(5) == {"blue": 5}

    # a blue-green switch rewrites the upstream, passes nginx -t and reloads
    switched = await stack.deployer.deploy("green", "test")
    assert switched.ok, switched.as_json()
    stack.settle("green")
    assert stack.who(5) == {"green": 5}

    # a 9:1 canary: nginx's weighted round-robin gives exactly 9:1 over 100 requests
    await stack.deployer.set_weight("green", 0.9, "test")
    canary = await stack.deployer.canary("blue", 0.1, "test")
    assert canary.ok, canary.as_json()
    time.sleep(1)  # the reload
    assert stack.who(100) == {"green": 90, "blue": 10}

    # rollback promotes the canary (the slot that served before): checked, switched, green drained and stopped
    back = await stack.deployer.rollback("test")
    assert back.ok and [s.name for s in back.steps] == ["health", "smoke tests", "switch", "drain green", "stop green"]
    stack.settle("blue")
    assert stack.who(5) == {"blue": 5}

    # the seed's limit_req: 30r/m with burst=20 nodelay lets 21 through at once, then 429
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        codes = [http.post("/v1/chat/completions", json={"model": "m", "messages": []}).status_code
                 for _ in range(25)]
    assert codes == [200] * 21 + [429] * 4

    # a config nginx rejects: the old file is back and nginx keeps serving it
    before = stack.settings.deploy.nginx.config_path.read_text()
    broken = stack.settings.deploy.nginx.model_copy(update={"server_name": "bad;name { oops"})
    with pytest.raises(Conflict, match="nginx -t rejected"):
        Nginx(broken).apply(render(stack.store.list(), broken, stack.settings.deploy.rate_limit))
    assert stack.settings.deploy.nginx.config_path.read_text() == before
    assert subprocess.run(["nginx", "-t", "-c", str(stack.settings.deploy.nginx.main_config)],
                          capture_output=True).returncode == 0


def test_sticky_render_uses_split_clients(stack: Stack) -> None:
    slots = [Slot("blue", "http://10.0.0.1:8000/v1", weight=0.9, state="active"),
             Slot("green", "http://10.0.0.2:8000/v1", weight=0.1, state="active")]
    sticky = stack.settings.deploy.nginx.model_copy(update={"sticky": True})
    text = render(slots, sticky, stack.settings.deploy.rate_limit)
    assert 'split_clients "$http_x_aistack_user$http_authorization" $llm_slot {' in text
    assert "90.00% llm_blue;" in text and "* llm_green;" in text and "proxy_pass http://$llm_slot;" in text
    with pytest.raises(Conflict, match="no slot is serving"):
        render([], sticky, stack.settings.deploy.rate_limit)
