"""The seed's prompt: context blocks headed `[Source: filename]`, separated by `---`."""

from __future__ import annotations

from aistack.llm.protocol import ChatMessage
from aistack.vectorstore import Hit

SEPARATOR = "\n\n---\n\n"


def context_block(hit: Hit) -> str:
    return f"[Source: {hit.payload.get('filename') or 'unknown'}]\n{hit.text}"


def fit_context(hits: list[Hit], max_chars: int) -> tuple[str, list[Hit]]:
    """The best hits that fit in max_chars (the first one always, cut if it must be)."""
    blocks: list[str] = []
    used: list[Hit] = []
    size = 0
    for hit in hits:
        block = context_block(hit)
        extra = len(block) + (len(SEPARATOR) if blocks else 0)
        if blocks and size + extra > max_chars:
            break
        blocks.append(block[:max_chars] if not blocks else block)
        used.append(hit)
        size += extra
    return SEPARATOR.join(blocks), used


def rag_messages(system_prompt: str, context: str, messages: list[ChatMessage]) -> list[ChatMessage]:
    """The seed's system prompt with the context, then the conversation without its own system
    messages (their instructions would compete with the grounding rules)."""
    system = ChatMessage(role="system", content=system_prompt.replace("{context}", context))
    return [system] + [m for m in messages if m.role not in ("system", "developer")]
