"""One llama.cpp `llama-server` per model, run and supervised by the gateway, as Ollama runs its
llama.cpp runners. It batches concurrent requests (continuous batching over `parallel` sequences
sharing one KV cache) and reuses a conversation's cached prompt prefix.

The child runs in its own process group, stopped with that group, and is killed with the gateway
(PR_SET_PDEATHSIG), so none outlives it. It listens on loopback only, behind a random key passed in
its environment. When it dies, or hangs (misses `HEALTH_MISSES` liveness probes in a row and is
killed), the supervisor starts a new one, with backoff; requests in flight get a 503 and new ones
wait a little for the restart. A request that fails while the server lives (an error event, a
broken connection) fails alone: only the supervisor, which sees the process, takes the engine down.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from aistack.errors import BackendUnavailable
from aistack.processes import stop_group
from aistack.settings.model import LlamaCppModel

log = logging.getLogger("aistack.llm.llama_server")
PR_SET_PDEATHSIG = 1
RESTART_DELAYS = (0.2, 1.0, 2.0, 5.0, 10.0, 30.0)  # the last repeats
ENGINE_KEEP_ALIVE = 5.0  # seconds llama-server (cpp-httplib) keeps an idle connection open
EXIT_GRACE = 0.5  # seconds a broken connection waits to see whether the server is exiting
HEALTH_MISSES = 3  # liveness probes in a row unanswered before a running server counts as hung
PROMPT_CACHE_MIB = 256  # llama-server's host-memory cache of idle slots' prompts (its default: 8 GiB)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the gateway's thread that started it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(binary: Path, model_path: Path, config: LlamaCppModel) -> list[str]:
    """The command line for one model, without --port (each start picks a free one)."""
    parallel, threads = config.sequences(), config.threads()
    command = [
        str(binary), "--model", str(model_path), "--host", "127.0.0.1",
        "--ctx-size", str(config.n_ctx * parallel), "--parallel", str(parallel), "--kv-unified",
        "--threads", str(threads), "--threads-batch", str(threads), "--batch-size", str(config.n_batch),
        "--n-gpu-layers", str(config.n_gpu_layers), "--cache-ram", str(PROMPT_CACHE_MIB), "--no-webui",
    ]
    if config.lora_path:
        command += ["--lora-scaled", f"{config.lora_path}:{config.lora_scale}"]
    return command


class LlamaServer:
    """The llama-server of one model: `start()` returns once the model is loaded, `endpoint()` gives
    the URL and key to call, `close()` stops it with its process group."""

    def __init__(self, name: str, command: list[str], log_path: Path, start_timeout: float,
                 health_interval: float = 10.0):
        self.name = name
        self.command = command  # without --port, added per start
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.health_interval = health_interval
        self.url = ""
        self.key = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._launch()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"llama-server-{self.name}")

    async def endpoint(self, wait: float = 10.0) -> tuple[str, str]:
        """The URL and key of the running server; waits up to `wait` seconds for a restart."""
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), wait)
            except TimeoutError:
                raise BackendUnavailable(
                    f"the engine of model '{self.name}' is restarting; retry in a few seconds") from None
        return self.url, self.key

    async def lost(self) -> BackendUnavailable:
        """The error for a request whose connection to the server broke mid-way. Only a server that
        has exited stops new requests here; a live one goes on serving them."""
        if await self._exits_within(EXIT_GRACE):
            self._ready.clear()  # the supervisor sets it again once a new server is up
            return BackendUnavailable(f"the engine of model '{self.name}' stopped during the request; it is "
                                      "being restarted: retry in a few seconds")
        return BackendUnavailable(f"the engine of model '{self.name}' broke off the request; retry it")

    async def _exits_within(self, seconds: float) -> bool:
        """Whether the process has exited, or does within `seconds` (a killed process closes its
        sockets a moment before it can be reaped)."""
        deadline = time.monotonic() + seconds
        while self._process is not None and self._process.poll() is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        self._closing = True
        if self._supervisor:
            self._supervisor.cancel()
        await self._stop()

    async def _launch(self) -> None:
        port, key = free_port(), secrets.token_urlsafe(24)
        log_file = await asyncio.to_thread(self._open_log)
        try:
            # on the loop's thread: PR_SET_PDEATHSIG follows the thread that forks, and this one lives
            self._process = subprocess.Popen(
                [*self.command, "--port", str(port)], stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
                env={**os.environ, "LLAMA_API_KEY": key})
        finally:
            log_file.close()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.start_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self._process.poll() is not None:
                    code = self._process.returncode
                    log.error("llama-server exited while loading", extra={"fields": {
                        "model": self.name, "status": code, "log": str(self.log_path)}})
                    raise BackendUnavailable(f"the engine of model '{self.name}' could not start; "
                                             "the gateway's log says why")
                try:
                    if (await client.get(url + "/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    await self._stop()
                    raise BackendUnavailable(f"the engine of model '{self.name}' did not load within "
                                             f"{self.start_timeout:.0f}s")
                await asyncio.sleep(0.1)
        self.url, self.key = url, key
        self._ready.set()
        log.info("llama-server ready", extra={"fields": {"model": self.name, "pid": self._process.pid}})

    def _open_log(self):  # type: ignore[no-untyped-def]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.log_path, "ab")

    async def _supervise(self) -> None:
        while not self._closing:
            assert self._process is not None
            code = await self._exited_or_hung(self._process)
            if self._closing:
                return
            self._ready.clear()
            log.error("llama-server died; restarting", extra={"fields": {"model": self.name, "status": code}})
            for attempt in range(1_000_000):
                await asyncio.sleep(RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)])
                try:
                    await self._launch()
                except BackendUnavailable:
                    continue
                break

    async def _exited_or_hung(self, process: subprocess.Popen[bytes]) -> int:
        """Waits until the process exits; one that stops answering its liveness probes is killed
        (with its group) first."""
        watchdog = asyncio.create_task(self._kill_when_hung(process))
        try:
            return await self._exited(process)
        finally:
            watchdog.cancel()

    async def _kill_when_hung(self, process: subprocess.Popen[bytes]) -> None:
        misses = 0
        async with httpx.AsyncClient(timeout=self.health_interval) as client:
            while misses < HEALTH_MISSES:
                await asyncio.sleep(self.health_interval)
                try:
                    answered = (await client.get(self.url + "/health")).status_code == 200
                except httpx.TransportError:
                    answered = False
                misses = 0 if answered else misses + 1
        log.error("llama-server stopped answering; killing it", extra={"fields": {
            "model": self.name, "pid": process.pid, "probes_missed": misses}})
        await asyncio.to_thread(stop_group, process, 1.0)  # a hung server rarely honours TERM

    @staticmethod
    async def _exited(process: subprocess.Popen[bytes]) -> int:
        """Waits, without polling, until the process exits (a pidfd becomes readable)."""
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(process.pid)
        except ProcessLookupError:  # already exited and reaped (a request's poll() can reap it)
            return process.wait()
        done = loop.create_future()
        loop.add_reader(fd, lambda: done.done() or done.set_result(None))
        try:
            await done
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return process.wait()

    async def _stop(self) -> None:
        self._ready.clear()
        if self._process is not None and self._process.poll() is None:
            await asyncio.to_thread(stop_group, self._process, 10.0)
