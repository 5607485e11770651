"""The seed's supervisor pattern: a coordinator agent whose tools are its specialists.

`ask_<member>` runs the member agent on a thread of its own (`<caller thread>.<member>.<call id>`),
so a delegation is checkpointed like any run, is never repeated once it has answered, and a
member's approval request pauses the supervisor's run until a person decides."""

# No `from __future__ import annotations`: the parameter's description is built per member, and
# make_tool reads the annotations at run time.
from typing import Annotated

from pydantic import Field

from aistack.agents.tools import AgentTool, ToolContext, ToolError, make_tool
from aistack.settings.agents import AgentDefinition


def delegate_tool(member: str, definition: AgentDefinition, timeout: float) -> AgentTool:
    def ask(task: Annotated[str, Field(min_length=1, description=f"What the {member} agent should find out or do")],
            context: ToolContext) -> str:
        if context.agents is None or context.thread_id is None:
            raise ToolError("delegation needs the agent service")
        run = context.agents.delegate(context.caller, member, task, f"{context.thread_id}.{member}.{context.call_id}")
        answer = run["answer"] or "no answer"
        return f"{member} agent (run {run['thread_id']}, {run['stop_reason']}): {answer}"

    return make_tool(ask, name=f"ask_{member}", timeout=timeout, scope="agents:run",
                     description=f"Delegate a task to the {member} agent: {definition.description}")


def handoff_tool(member: str, definition: AgentDefinition) -> AgentTool:
    def hand(task: Annotated[str, Field(min_length=1, description=f"What the {member} agent should do, later")],
             context: ToolContext) -> str:
        from aistack.agents.worker import hand_off, open_bus

        if context.agents is None or context.thread_id is None:
            raise ToolError("a hand-off needs the agent service")
        bus = open_bus(context.agents)
        try:  # the thread id is fixed per call: a resumed node publishes the same run, run once
            sent = hand_off(bus, context.agents, context.caller, member, task,
                            f"{context.thread_id}.{member}.{context.call_id}", sender=context.thread_id)
        finally:
            bus.close()
        return f"handed off to the {member} agent as run {sent['thread_id']}; a worker will run it"

    return make_tool(hand, name=f"hand_off_{member}", scope="agents:run",
                     description=f"Hand a task to the {member} agent without waiting: {definition.description}")
