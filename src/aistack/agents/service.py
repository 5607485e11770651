"""Agent runs: start, resume after a crash, approve or reject, and read back, by thread id.

A run is one LangGraph thread, checkpointed after every node. Its events (the model's tool calls,
tool results, an approval request, the answer) are yielded as they happen, for the CLI to print
and the API to stream.

A run belongs to whoever started it (its checkpoint keeps the caller, Principal.as_dict): only
they, or an admin, see and resume it; approving needs `agents:approve` in the run's team; its
tools run with its starter's permissions. Another caller is told there is no such run."""

from __future__ import annotations

import contextvars
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.types import Command

from aistack.agents.checkpoints import open_checkpoints
from aistack.agents.graph import AgentSpec, calls_of, create_agent_graph
from aistack.agents.model import AgentModel, GatewayModel, Runner, SeamModel
from aistack.agents.supervisor import delegate_tool, handoff_tool
from aistack.agents.tools import AgentTool, Search, ToolContext, registered
from aistack.errors import Conflict, Forbidden, InvalidRequest, NotFound
from aistack.portal import Portal
from aistack.principals import DEFAULT_TEAM, Principal
from aistack.settings import Settings
from aistack.settings.agents import AgentDefinition

if TYPE_CHECKING:
    from aistack.llm.base import LLMBackend
    from aistack.metrics import Metrics

THREAD_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # fullmatch: "$" would let a trailing newline through
Event = dict[str, Any]


def step_of(message: AnyMessage) -> Event:
    if isinstance(message, HumanMessage):
        return {"type": "task", "content": message.text}
    if isinstance(message, ToolMessage):
        return {"type": "tool_result", "name": message.name, "ok": message.status != "error", "content": message.text}
    calls = calls_of(message)
    if calls:
        return {"type": "tool_calls", "content": message.text,
                "calls": [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in calls]}
    return {"type": "answer", "content": message.text}


class AgentService:
    """`llm` and `run` (its portal) reach the model in process; `search` backs the knowledge tool;
    `metrics` counts runs and tool calls. Each is optional: a test gives only what it needs."""

    def __init__(self, settings: Settings, llm: Callable[[], LLMBackend] | None = None, run: Runner | None = None,
                 model: AgentModel | None = None, default_model: str | None = None,
                 search: Search | None = None, metrics: Metrics | None = None):
        self.settings, self.llm, self.run = settings, llm, run
        self.default_model, self.search, self.metrics = default_model, search, metrics
        self.tools = registered(settings)
        self.checkpoints = open_checkpoints(settings)
        self._model = model
        self._graphs: dict[str, Any] = {}
        self._mcp: dict[str, dict[str, AgentTool]] = {}
        self._portal: Portal | None = None
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.checkpoints.close()
        if self._portal is not None:
            self._portal.close()

    def definitions(self) -> dict[str, AgentDefinition]:
        return self.settings.agents.definitions

    def definition(self, name: str) -> AgentDefinition:
        found = self.definitions().get(name)
        if found is None:
            raise NotFound(f"no agent '{name}'; the agents are: {', '.join(self.definitions())}", param="name")
        return found

    def model(self) -> AgentModel:
        if self._model is None:
            config = self.settings.agents
            name = config.model or self.default_model
            if not name:
                raise InvalidRequest("no model for the agents: set agents.model or llm.default_model")
            if config.llm_url:
                key = config.llm_api_key.get_secret_value() if config.llm_api_key else None
                self._model = GatewayModel(config.llm_url, key, name, config.max_tokens, config.temperature)
            else:
                if self.llm is None or self.run is None:
                    raise InvalidRequest("no model for the agents here: set agents.llm_url to a gateway")
                self._model = SeamModel(self.llm(), name, self.run, config.max_tokens, config.temperature)
        return self._model

    def tools_of(self, name: str) -> dict[str, AgentTool]:
        definition = self.definition(name)
        unknown = [t for t in definition.tools if t not in self.tools]
        if unknown:
            raise InvalidRequest(f"agent '{name}' names unknown tools {unknown}; the tools are: {', '.join(self.tools)}")
        chosen = {t: self.tools[t] for t in definition.tools}
        chosen.update(self._mcp_tools(name, definition))
        for member in definition.members:
            made = delegate_tool(member, self.definition(member), self.settings.agents.run_timeout)
            chosen[made.name] = made
            if definition.hand_off:
                made = handoff_tool(member, self.definition(member))
                chosen[made.name] = made
        return chosen

    def _mcp_tools(self, name: str, definition: AgentDefinition) -> dict[str, AgentTool]:
        """The tools of the agent's MCP servers, listed once per agent (blocking: asks each server)."""
        if not definition.mcp_servers:
            return {}
        if name not in self._mcp:
            from aistack.agents.mcp_tools import mcp_tools

            found: dict[str, AgentTool] = {}
            for server, config in definition.mcp_servers.items():
                found.update(mcp_tools(server, config, self._runner()))
            self._mcp[name] = found
        return self._mcp[name]

    def _runner(self) -> Runner:
        """Where MCP sessions run: the gateway's loop (`run`), else a portal of this service's own."""
        if self.run is not None:
            return self.run
        with self._lock:
            if self._portal is None:
                self._portal = Portal()
        return self._portal.call

    def _may_start(self, caller: Principal, name: str) -> None:
        caller.require("agents:run")
        for tool in self.tools_of(name).values():
            if tool.scope and not caller.can(tool.scope):
                raise Forbidden(f"agent '{name}' uses the tool {tool.name}, which needs the '{tool.scope}' scope")

    def graph(self, name: str) -> Any:
        if name not in self._graphs:
            config = self.settings.agents
            spec = AgentSpec(name, self.definition(name), self.model(), self.tools_of(name),
                             ToolContext(self.settings, self.search, self), config.tool_timeout, config.max_tool_output)
            self._graphs[name] = create_agent_graph(spec, self.checkpoints.saver)
        return self._graphs[name]

    # -- runs ---------------------------------------------------------------------------------

    def new_thread(self, name: str, task: str, thread_id: str | None = None) -> str:
        """The thread id a new run of `name` on `task` gets (checked, or made up); bad input raises."""
        self.definition(name)
        if not task.strip():
            raise InvalidRequest("the task is empty", param="task")
        thread_id = thread_id or f"{name}-{uuid.uuid4().hex[:12]}"
        if not THREAD_ID.fullmatch(thread_id):
            raise InvalidRequest("a thread id is 1-128 letters, digits, '.', '_', ':' or '-'", param="thread_id")
        return thread_id

    def start(self, caller: Principal, name: str, task: str, thread_id: str | None = None) -> Iterator[Event]:
        thread_id = self.new_thread(name, task, thread_id)
        definition = self.definition(name)
        self._may_start(caller, name)
        if self._agent_of(thread_id) is not None:
            raise Conflict(f"thread '{thread_id}' exists already: resume it, or start a new thread")
        graph = self.graph(name)
        limit = definition.max_iterations or self.settings.agents.max_iterations
        state = {"messages": [HumanMessage(task)], "agent": name, "tool_calls_count": 0,
                 "max_iterations": limit, "stop_reason": None, "owner": caller.as_dict()}
        return self._drive(graph, state, thread_id, limit, started={"type": "started", "agent": name})

    def resume(self, caller: Principal, thread_id: str) -> Iterator[Event]:
        """Continue a run that stopped mid-way (a crash, a timeout) from its last checkpoint."""
        view = self.view(caller, thread_id)
        if view["status"] == "awaiting_approval":
            raise Conflict(f"run '{thread_id}' waits for approval: approve or reject it")
        if view["status"] == "completed":
            raise Conflict(f"run '{thread_id}' has ended ({view['stop_reason']})")
        return self._drive(self.graph(view["agent"]), None, thread_id, view["max_iterations"])

    def decide(self, caller: Principal, thread_id: str, approved: bool, reason: str | None = None,
               by: str | None = None) -> Iterator[Event]:
        """Approve or reject a waiting run: `agents:approve` in the run's team (or an admin).
        `by` names the person, as the audit shows it (default: the caller's name)."""
        view = self._view(thread_id)
        if not (caller.sees_team(view["team"]) or self._owns(caller, view)):
            raise NotFound(f"no run with thread id '{thread_id}'", param="thread_id")
        caller.require("agents:approve")
        return self._decide(view, approved, f"{by} via {caller.name}" if by else caller.name, reason)

    def _decide(self, view: Event, approved: bool, by: str, reason: str | None) -> Iterator[Event]:
        thread_id = view["thread_id"]
        if view["status"] != "awaiting_approval":
            raise Conflict(f"run '{thread_id}' is not waiting for approval (it is {view['status']})")
        decision = {"approved": approved, "by": by, "reason": reason, "key": view["pending_approval"].get("key")}
        return self._drive(self.graph(view["agent"]), Command(resume=decision), thread_id, view["max_iterations"])

    def _drive(self, graph: Any, payload: Any, thread_id: str, limit: int,
               started: Event | None = None) -> Iterator[Event]:
        if thread_id in self._active:
            raise Conflict(f"run '{thread_id}' is running now")
        config = {"configurable": {"thread_id": thread_id, "deadline": time.time() + self.settings.agents.run_timeout},
                  "recursion_limit": 3 * limit + 10}

        def events() -> Iterator[Event]:
            with self._lock:
                if thread_id in self._active:
                    raise Conflict(f"run '{thread_id}' is running now")
                self._active.add(thread_id)
            try:
                if started:
                    yield {**started, "thread_id": thread_id}
                # sync durability: each step's checkpoint is written before the next step starts, so a
                # process killed in the middle of a tool call resumes at that tool call
                for update in graph.stream(payload, config, stream_mode="updates", durability="sync"):
                    for event in self._events_of(update):
                        self._count(event)
                        yield event
            except Exception:
                self._count({"type": "run", "agent": graph.name, "status": "failed"})
                raise
            finally:
                with self._lock:
                    self._active.discard(thread_id)
            final = {"type": "run", **self._view(thread_id)}
            self._count(final)
            yield final

        return events()

    def _count(self, event: Event) -> None:
        """agent_runs_total and agent_tool_calls_total, when the service has the gateway's metrics."""
        metrics = self.metrics
        if metrics is None:
            return
        if event["type"] == "tool_result":
            text = event["content"]
            result = ("ok" if event["ok"] else "rejected" if "rejected by" in text
                      else "skipped" if text.startswith("error: not run") else "error")
            metrics.agent_tool_calls.labels(tool=event["name"] or "unknown", result=result).inc()
        elif event["type"] == "run" and event["status"] != "interrupted":
            outcome = event["status"] if event["status"] != "completed" else event["stop_reason"].split(":")[0]
            metrics.agent_runs.labels(agent=event["agent"], outcome=outcome).inc()

    @staticmethod
    def _events_of(update: dict[str, Any]) -> Iterator[Event]:
        for node, values in update.items():
            if node == "__interrupt__":
                for pending in values:
                    yield {"type": "approval_required", **pending.value}
                continue
            values = values or {}
            if node == "counter":
                yield {"type": "iteration", "count": values["tool_calls_count"]}
            for message in values.get("messages", ()):
                yield {**step_of(message), "node": node}
            if node == "finish":
                yield {"type": "stopped", "reason": values.get("stop_reason")}

    # -- reading ------------------------------------------------------------------------------

    def exists(self, thread_id: str) -> bool:
        return bool(THREAD_ID.fullmatch(thread_id)) and self._agent_of(thread_id) is not None

    def _agent_of(self, thread_id: str) -> str | None:
        found = self.checkpoints.saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
        return found.checkpoint["channel_values"].get("agent") if found else None

    @staticmethod
    def _owns(caller: Principal, view: Event) -> bool:
        """A run started before teams existed (no owner) is the default team's."""
        if caller.admin:
            return True
        if view["owner"] is None:
            return caller.team == DEFAULT_TEAM
        return view["owner"] == caller.identity and view["team"] == caller.team

    def view(self, caller: Principal, thread_id: str) -> Event:
        """The run, if the caller started it (or may approve it, or is an admin)."""
        view = self._view(thread_id)
        approver = caller.can("agents:approve") and view["team"] == caller.team
        if not (self._owns(caller, view) or approver):
            raise NotFound(f"no run with thread id '{thread_id}'", param="thread_id")
        return view

    def _view(self, thread_id: str) -> Event:
        agent = self._agent_of(thread_id)
        if agent is None:
            raise NotFound(f"no run with thread id '{thread_id}'", param="thread_id")
        snapshot = self.graph(agent).get_state({"configurable": {"thread_id": thread_id}})
        values = snapshot.values
        messages = values.get("messages", [])
        pending = next((i.value for i in snapshot.interrupts), None)
        if thread_id in self._active:
            status = "running"
        elif pending is not None:
            status = "awaiting_approval"
        elif snapshot.tasks:  # steps left (done ones not yet folded into a checkpoint count too)
            status = "interrupted"  # stopped mid-run (killed, or running in another process)
        else:
            status = "completed"
        answer = messages[-1].text if status == "completed" and isinstance(messages[-1], AIMessage) else None
        if pending is not None:
            pending = {**pending, "key": pending.get("key") or snapshot.interrupts[0].id}
        owner = values.get("owner") or None
        return {"thread_id": thread_id, "agent": agent, "status": status, "stop_reason": values.get("stop_reason"),
                "owner": Principal.from_dict(owner).identity if owner else None,
                "team": owner["team"] if owner else DEFAULT_TEAM,
                "tool_calls_count": values.get("tool_calls_count", 0), "max_iterations": values.get("max_iterations"),
                "answer": answer, "pending_approval": pending,
                "next": list(snapshot.next) or [t.name for t in snapshot.tasks],
                "steps": [step_of(m) for m in messages]}

    def runs(self, caller: Principal, agent: str | None = None, limit: int = 50) -> list[Event]:
        """The caller's newest runs first (an admin's: everyone's): thread id, agent, status."""
        seen: dict[str, str] = {}
        for found in self.checkpoints.saver.list(None):
            thread = found.config["configurable"]["thread_id"]
            if found.config["configurable"].get("checkpoint_ns") or thread in seen:
                continue
            seen[thread] = found.checkpoint["channel_values"].get("agent", "")
            if len(seen) >= limit * 4:
                break
        chosen = [t for t, a in seen.items() if a and (agent is None or a == agent)]
        views = [self._view(t) for t in chosen]
        return [{k: v for k, v in view.items() if k != "steps"} for view in views if self._owns(caller, view)][:limit]

    # -- delegation (a supervisor's ask_<member> tools) ---------------------------------------

    def delegate(self, caller: Principal, member: str, task: str, thread_id: str) -> Event:
        """Run a member agent on its own thread; its approval requests surface as the caller's."""
        from langgraph.types import interrupt

        isolated = contextvars.Context()  # the member is a run of its own, not a subgraph of the caller

        def drain(events: Iterator[Event]) -> None:
            isolated.run(lambda: list(events))

        if isolated.run(self._agent_of, thread_id) is None:
            drain(self.start(caller, member, task, thread_id))
        while True:
            view = isolated.run(self.view, caller, thread_id)
            if view["status"] == "completed":
                return view
            if view["status"] != "awaiting_approval":
                drain(self.resume(caller, thread_id))
                continue
            pending = view["pending_approval"]
            decision = interrupt(pending)  # replays earlier decisions in order: match by key
            while decision.get("key") != pending["key"]:
                decision = interrupt(pending)
            # the supervisor's approver decided: the member run takes the same decision
            drain(self._decide(view, bool(decision.get("approved")), decision.get("by", "operator"),
                               decision.get("reason")))
