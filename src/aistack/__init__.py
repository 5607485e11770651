"""aistack: a self-hosted AI platform built around an OpenAI-compatible gateway."""

__version__ = "0.1.0"
