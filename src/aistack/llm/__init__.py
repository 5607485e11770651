"""The LLM seam: one Protocol (base.py), a registry, and the backends it names."""

from aistack.llm.base import LLMBackend
from aistack.llm.registry import create_llm

__all__ = ["LLMBackend", "create_llm"]
