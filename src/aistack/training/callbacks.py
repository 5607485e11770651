"""Trainer callbacks: the loss curve to MLflow, progress to the CLI, and Ctrl-C as save-and-stop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

Event = Callable[[str, dict[str, Any]], None]


class MlflowMetrics(TrainerCallback):
    """Every logged number (loss, eval_loss, learning_rate, grad_norm) as an MLflow metric at its step."""

    def __init__(self, client: Any, run_id: str):
        self.client, self.run_id = client, run_id
        self.history: list[dict[str, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
        if not numbers:
            return
        self.history.append({"step": state.global_step, **numbers})
        for key, value in numbers.items():
            self.client.log_metric(self.run_id, key, value, step=state.global_step)


class Progress(TrainerCallback):
    def __init__(self, emit: Event):
        self.emit = emit

    def on_train_begin(self, args, state, control, **kwargs):
        self.emit("start", {"step": state.global_step, "max_steps": state.max_steps})

    def on_step_end(self, args, state, control, **kwargs):
        self.emit("step", {"step": state.global_step, "max_steps": state.max_steps})

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.emit("log", {"step": state.global_step, **(logs or {})})

    def on_save(self, args, state, control, **kwargs):
        self.emit("checkpoint", {"step": state.global_step})


class SaveAndStop(TrainerCallback):
    """The first Ctrl-C (SIGINT) or SIGTERM asks the trainer to save a checkpoint after the current step
    and stop; `--resume` continues from it. Handlers are installed only in the main thread."""

    def __init__(self):
        self.requested = False
        self.previous: dict[int, Any] = {}

    def request(self, *_: Any) -> None:
        self.requested = True

    def __enter__(self) -> SaveAndStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self.request)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
