"""Blue-green and canary deployment, the seed's deploy.sh and rollback.sh as one tested service.

deploy(slot): start it -> wait for health -> smoke tests through the real API -> switch in one
transaction -> drain the old slot (the seed's 30 s grace; streams may finish) -> stop it.
A failure before the switch stops the candidate and leaves the old slot serving and the state as
it was (the automatic rollback). canary(slot, weight): the same checks, then the slot serves
`weight` beside the others. rollback(): the slot that served before, restarted if need be."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from aistack.deploy.runtimes import Runtimes
from aistack.deploy.slots import Slot
from aistack.deploy.view import SlotView
from aistack.errors import AistackError, Conflict
from aistack.llm.routing import SlotRouter
from aistack.portal import in_thread
from aistack.settings.deploy import DeploySettings, SmokeTest


class StepFailed(Exception):
    pass


@dataclass
class Step:
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class DeployResult:
    slot: str
    action: str
    ok: bool
    steps: list[Step] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "action": self.action, "ok": self.ok, "active": self.active, "error": self.error,
                "steps": [vars(s) for s in self.steps]}


class Deployer:
    """The deployment service: slots, deploy, canary, weights, rollback and the audit trail. Every
    store call runs in a worker thread; the view is re-read after each change, so this gateway
    routes by it at once (the others within `deploy.refresh_interval`)."""

    def __init__(self, view: SlotView, router: SlotRouter, runtimes: Runtimes, config: DeploySettings):
        self._store = view.store
        self.view = view
        self.router = router
        self.config = config
        self.runtimes = runtimes
        self._lock = asyncio.Lock()  # one deployment at a time per gateway

    async def slots(self) -> list[Slot]:
        return await in_thread(self._store.list)

    def inflight(self, name: str) -> int:
        return self.router.inflight[name]

    async def define(self, slot: Slot, actor: str) -> Slot:
        return await in_thread(self._store.put, slot, actor)

    async def delete(self, name: str, actor: str) -> None:
        await in_thread(self._store.delete, name, actor)

    async def audit(self, limit: int) -> list[dict[str, Any]]:
        return await in_thread(self._store.audit, limit)

    async def reconcile(self) -> dict[str, str]:
        """Take stock of the process slots a crashed gateway left (deploy/recovery.py), then route by
        what is left."""
        from aistack.deploy.recovery import reconcile

        done = await in_thread(reconcile, self._store, self.runtimes.process)
        if done:
            await self.view.refresh()
        return done

    async def _serving(self) -> list[str]:
        return [r.name for r in await self.view.refresh()]

    async def _step(self, result: DeployResult, name: str, work: Any) -> Any:
        """Run one step and record it. A step returns its detail, or (detail, value)."""
        started = time.perf_counter()
        try:
            found = await work
        except (StepFailed, AistackError) as exc:
            message = exc.message if isinstance(exc, AistackError) else str(exc)
            result.steps.append(Step(name, False, message, round(time.perf_counter() - started, 3)))
            raise StepFailed(f"{name}: {message}") from None
        detail = found[0] if isinstance(found, tuple) else found
        result.steps.append(Step(name, True, detail or "", round(time.perf_counter() - started, 3)))
        return found

    async def _healthy(self, slot: Slot) -> str:
        runtime = self.runtimes.of(slot)
        deadline = time.monotonic() + self.config.health_timeout
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                if not runtime.alive(slot):
                    raise StepFailed("the slot's process exited (see its log in <home>/deploy/logs)")
                try:
                    response = await http.get(slot.url.rstrip("/") + "/models")
                    if response.status_code == 200:
                        return f"{slot.url} answered /models"
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise StepFailed(f"not healthy after {self.config.health_timeout:g}s")

    async def _smoke(self, slot: Slot, tests: list[SmokeTest]) -> str:
        async with httpx.AsyncClient(base_url=slot.url.rstrip("/"), timeout=120) as http:
            model = slot.model or (await http.get("/models")).json()["data"][0]["id"]
            for test in tests:
                response = await http.post("/chat/completions", json={
                    "model": model, "messages": [{"role": "user", "content": test.prompt}],
                    "max_tokens": test.max_tokens, "temperature": 0})
                if response.status_code != 200:
                    raise StepFailed(f"{test.prompt!r} got HTTP {response.status_code}: {response.text[:200]}")
                answer = response.json()["choices"][0]["message"]["content"] or ""
                if not re.search(test.expect, answer):
                    raise StepFailed(f"{test.prompt!r} answered {answer[:80]!r}, which does not match {test.expect!r}")
        return f"{len(tests)} passed"

    async def _start_checked(self, result: DeployResult, slot: Slot, actor: str, tests: list[SmokeTest]) -> Slot:
        """Start, wait for health, smoke-test. On failure: stop it, mark it failed, re-raise."""
        runtime = self.runtimes.of(slot)
        slot = await in_thread(self._store.update, slot.name, actor, "start",
                               expect=("stopped", "failed", "ready", "draining"), state="starting")
        try:
            await self._step(result, "start", in_thread(runtime.start, slot))
            await self._step(result, "health", self._healthy(slot))
            await self._step(result, "smoke tests", self._smoke(slot, tests))
        except StepFailed:
            await in_thread(runtime.stop, slot)
            await in_thread(self._store.update, slot.name, actor, "failed", state="failed", weight=0.0)
            raise
        return await in_thread(self._store.update, slot.name, actor, "ready", state="ready")

    async def deploy(self, name: str, actor: str, tests: list[SmokeTest] | None = None) -> DeployResult:
        async with self._lock:
            result = DeployResult(name, "deploy", ok=False)
            slot = await in_thread(self._store.get, name)
            others = [s for s in await self.slots() if s.serving and s.name != name]
            if slot.serving and not others:
                raise Conflict(f"slot '{name}' already serves all traffic")
            try:
                if slot.serving:  # a canary promoted: checked again, not restarted
                    await self._step(result, "health", self._healthy(slot))
                    await self._step(result, "smoke tests", self._smoke(slot, tests or self.config.smoke_tests))
                else:
                    await self._start_checked(result, slot, actor, tests or self.config.smoke_tests)
                _, old = await self._step(result, "switch", self._switch(name, actor))
                for previous in old:
                    await self._step(result, f"drain {previous.name}", self._drain(previous))
                    await self._step(result, f"stop {previous.name}", self._stop(previous, actor))
                result.ok = True
            except StepFailed as exc:
                result.error = f"{exc}; nothing was switched"
            result.active = await self._serving()
            return result

    async def canary(self, name: str, weight: float, actor: str, tests: list[SmokeTest] | None = None) -> DeployResult:
        async with self._lock:
            result = DeployResult(name, "canary", ok=False)
            slot = await in_thread(self._store.get, name)
            try:
                if not slot.serving:
                    await self._start_checked(result, slot, actor, tests or self.config.smoke_tests)
                if self.config.nginx.enabled:
                    future = await self._future(**{name: {"state": "active", "weight": weight}})
                    await self._step(result, "nginx", self.apply_nginx(future))
                await in_thread(self._store.update, name, actor, "canary", state="active", weight=weight)
                result.steps.append(Step("serve", True, f"weight {weight:g}"))
                result.ok = True
            except StepFailed as exc:
                result.error = f"{exc}; the slot gets no traffic"
            result.active = await self._serving()
            return result

    async def rollback(self, actor: str) -> DeployResult:
        previous = await in_thread(self._store.previous_active)
        if previous is None:
            raise Conflict("nothing to roll back to: no switch has happened yet")
        result = await self.deploy(previous, actor)
        result.action = "rollback"
        return result

    async def apply_nginx(self, future: list[Slot]) -> str:
        """nginx first, with the state about to be written: a config nginx rejects stops the change."""
        from aistack.deploy.nginx import Nginx, render

        text = render(future, self.config.nginx, self.config.rate_limit)
        return await in_thread(Nginx(self.config.nginx).apply, text)

    async def _future(self, **changes: dict[str, Any]) -> list[Slot]:
        """The slots as they will be after `changes`: what nginx is checked against first."""
        return [replace(s, **changes.get(s.name, {})) for s in await self.slots()]

    async def nginx_config(self) -> str:
        """The nginx snippet for the slots as they stand."""
        from aistack.deploy.nginx import render

        return render(await self.slots(), self.config.nginx, self.config.rate_limit)

    async def _switch(self, name: str, actor: str) -> tuple[str, list[Slot]]:
        if self.config.nginx.enabled:
            future = {s.name: {"state": "draining", "weight": 0.0} for s in await self.slots()
                      if s.state == "active" and s.name != name}
            await self.apply_nginx(await self._future(**future, **{name: {"state": "active", "weight": 1.0}}))
        _, old = await in_thread(self._store.switch, name, actor)
        await self.view.refresh()
        return f"{name} serves all traffic", old

    async def _drain(self, slot: Slot) -> str:
        left = await self.router.drain(slot.name, self.config.drain_grace)
        return "no request in flight" if not left else f"{left} still in flight after {self.config.drain_grace:g}s"

    async def _stop(self, slot: Slot, actor: str) -> str:
        await in_thread(self.runtimes.of(slot).stop, slot)
        await in_thread(self._store.update, slot.name, actor, "stop", state="stopped", weight=0.0)
        return "stopped"

    def shutdown(self) -> None:
        """Stop the processes this gateway started, and say so in the store."""
        for name in list(self.runtimes.process.processes):
            self.runtimes.process.stop(self._store.get(name))
            self._store.update(name, "shutdown", "stop", state="stopped", weight=0.0)

    async def set_weight(self, name: str, weight: float, actor: str) -> Slot:
        slot = await in_thread(self._store.get, name)
        if weight > 0 and slot.state != "active":
            raise Conflict(f"slot '{name}' is {slot.state}: deploy it (or start a canary) before giving it traffic")
        if self.config.nginx.enabled:
            await self.apply_nginx(await self._future(**{name: {"weight": weight}}))
        slot = await in_thread(self._store.update, name, actor, "weight", weight=weight)
        await self.view.refresh()
        return slot
