"""After a crash: a gateway starting over the slot store takes stock of the `process` slots whose
gateway is gone (its recorded pid and start time no longer match a live process on this host).

- a live process behind an active or ready slot is adopted: it keeps serving, and this gateway
  stops it when the slot is switched away or the gateway shuts down;
- a slot left `starting` (the deploy died with its gateway) or `draining` has its process group
  stopped and goes back to `failed` or `stopped`, so it can be deployed or deleted again (it used
  to answer 409 for ever);
- an active or ready slot whose process died is `failed` and gets no traffic;
- any other live process recorded for a dead gateway is an orphan, and is stopped.

Slots owned by a live gateway, or run on another host, are left alone."""

from __future__ import annotations

import logging
import socket

from aistack.deploy.runtimes import ProcessRuntime
from aistack.deploy.slots import SlotStore
from aistack.processes import Adopted, start_time, stop_group

log = logging.getLogger("aistack.deploy")
ACTOR = "recovery"


def _alive(pid: int, started: int) -> bool:
    return start_time(pid) == started


def reconcile(store: SlotStore, runtime: ProcessRuntime) -> dict[str, str]:
    """What was done, by slot: adopted, stopped (orphan), failed or stopped (state reset)."""
    host = socket.gethostname()
    slots = {s.name: s for s in store.list()}
    done: dict[str, str] = {}
    for name, record in store.processes().items():
        if record.host != host or _alive(record.owner_pid, record.owner_started):
            continue  # another host's, or a live gateway's
        slot = slots.get(name)
        alive = _alive(record.pid, record.started)
        if slot is not None and slot.state in ("active", "ready") and alive:
            runtime.adopt(record)
            done[name] = "adopted"
            continue
        if alive:
            stop_group(Adopted(record.pid, record.started))
        store.forget_process(name)
        done[name] = _reset(store, name, slot.state) if slot is not None else "stopped"
    for name, outcome in done.items():
        log.warning("slot %s: %s after its gateway stopped", name, outcome, extra={"fields": {"slot": name}})
    return done


def _reset(store: SlotStore, name: str, state: str) -> str:
    """The state a slot goes back to once its process is gone."""
    after = {"starting": "failed", "active": "failed", "ready": "failed", "draining": "stopped"}.get(state)
    if after is None:
        return "stopped"
    store.update(name, ACTOR, "reconcile", state=after, weight=0.0)
    return after

