"""Streaming clients for switch-under-load tests: each streams completions until told to stop."""

from __future__ import annotations

import threading

import openai


def stream_until(url: str, done: threading.Event, user: int, model: str) -> tuple[int, list[str]]:
    """One sticky client (x-aistack-user). Returns (completed streams, failures)."""
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=300,
                        default_headers={"x-aistack-user": f"user-{user}"})
    completed, failures = 0, []
    while not done.is_set():
        try:
            finish = None
            for chunk in sdk.chat.completions.create(model=model, max_tokens=8, stream=True,
                                                     messages=[{"role": "user", "content": "Say hello."}]):
                if chunk.choices and chunk.choices[0].finish_reason:
                    finish = chunk.choices[0].finish_reason
            if finish is None:
                failures.append("stream ended without a finish_reason")
            completed += 1
        except openai.OpenAIError as exc:
            failures.append(repr(exc))
    return completed, failures
