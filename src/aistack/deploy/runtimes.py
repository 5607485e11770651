"""What starts and stops the server behind a slot: `external` (not aistack's to run), `process`
(a local command, supervised, its output kept in <home>/deploy/logs/<slot>.log) and `compose`
(`docker compose -f FILE up -d` / `down`, as the seed's deploy script does)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any, Protocol

from aistack.deploy.slots import Slot, SlotProcess, SlotStore
from aistack.errors import BackendUnavailable
from aistack.processes import Adopted, start_time, stop_group


class Runtime(Protocol):
    def start(self, slot: Slot) -> None: ...

    def stop(self, slot: Slot) -> None: ...

    def alive(self, slot: Slot) -> bool: ...


class ExternalRuntime:
    def start(self, slot: Slot) -> None:
        pass

    def stop(self, slot: Slot) -> None:
        pass

    def alive(self, slot: Slot) -> bool:
        return True


def this_gateway() -> tuple[str, int, int]:
    """(host, pid, start time) of this process: what a slot process record names as its owner."""
    return socket.gethostname(), os.getpid(), start_time(os.getpid()) or 0


class ProcessRuntime:
    """Processes started by this gateway (or adopted from one that died). They stop with their
    slot, never with a shell: the command is a list. Each is recorded in the slot store with its
    pid, its start time and this gateway's, for deploy/recovery.py."""

    def __init__(self, logs: Path, store: SlotStore | None = None):
        self.logs = logs
        self.store = store
        self.processes: dict[str, Any] = {}  # slot name -> Popen, or Adopted

    def start(self, slot: Slot) -> None:
        command = (slot.spec or {}).get("command") or []
        if not command:
            raise BackendUnavailable(f"slot '{slot.name}' has runtime process but no command")
        self.stop(slot)
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{slot.name}.log").open("ab")
        # the slot is configured by its own env, never by this gateway's AISTACK_* settings
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}
        env = {**inherited, **((slot.spec or {}).get("env") or {})}
        try:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise BackendUnavailable(f"slot '{slot.name}': cannot run {command[0]}: {exc.strerror}") from None
        finally:
            log.close()
        self.processes[slot.name] = process
        if self.store is not None:
            host, owner, owner_started = this_gateway()
            self.store.record_process(SlotProcess(slot.name, host, process.pid, start_time(process.pid) or 0,
                                                  owner, owner_started))

    def adopt(self, record: SlotProcess) -> None:
        """Take over a live slot process whose gateway died: this one stops it from now on."""
        self.processes[record.name] = Adopted(record.pid, record.started)
        if self.store is not None:
            host, owner, owner_started = this_gateway()
            self.store.record_process(SlotProcess(record.name, host, record.pid, record.started, owner, owner_started))

    def stop(self, slot: Slot, timeout: float = 30.0) -> None:
        """The slot's whole process group: a vLLM slot's EngineCore and Worker stop with it."""
        process = self.processes.pop(slot.name, None)
        if process is not None:
            stop_group(process, timeout)
            if self.store is not None:
                self.store.forget_process(slot.name)

    def alive(self, slot: Slot) -> bool:
        process = self.processes.get(slot.name)
        return process is not None and process.poll() is None


class ComposeRuntime:
    def _run(self, slot: Slot, *args: str) -> None:
        compose_file = (slot.spec or {}).get("compose_file")
        if not compose_file:
            raise BackendUnavailable(f"slot '{slot.name}' has runtime compose but no compose_file")
        command = ["docker", "compose", "-f", compose_file, *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendUnavailable(f"slot '{slot.name}': {' '.join(command)} failed: {exc}") from None
        if done.returncode != 0:
            raise BackendUnavailable(f"slot '{slot.name}': {' '.join(command)} exited {done.returncode}: "
                                     f"{done.stderr.strip()[-500:]}")

    def start(self, slot: Slot) -> None:
        self._run(slot, "up", "-d")

    def stop(self, slot: Slot) -> None:
        self._run(slot, "down")

    def alive(self, slot: Slot) -> bool:
        return True  # the health check says more than `docker compose ps`


class Runtimes:
    def __init__(self, home: Path, store: SlotStore | None = None):
        self.process = ProcessRuntime(home / "deploy" / "logs", store)
        self.by_name: dict[str, Runtime] = {"external": ExternalRuntime(), "process": self.process,
                                             "compose": ComposeRuntime()}

    def of(self, slot: Slot) -> Runtime:
        return self.by_name[slot.runtime]
