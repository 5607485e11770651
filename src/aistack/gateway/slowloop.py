"""Diagnostics for `server.slow_callback_ms`: asyncio's debug mode on the gateway's loop (its
slow-callback log names the task that held the loop), and a watcher thread that names the code:
when the loop's thread stays past the threshold without turning, it logs that thread's stack."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

log = logging.getLogger("aistack.slowloop")


class StallWatch:
    def __init__(self, milliseconds: float):
        self.threshold = milliseconds / 1000
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_debug(True)
        self._loop.slow_callback_duration = self.threshold
        self._thread_id = threading.get_ident()
        self._loop.call_soon(self._tick)
        threading.Thread(target=self._watch, name="aistack-stall-watch", daemon=True).start()

    def _tick(self) -> None:
        self._beat = time.monotonic()
        if not self._stop.is_set() and self._loop is not None:
            self._loop.call_later(self.threshold / 4, self._tick)

    def _watch(self) -> None:
        logged = 0.0
        while not self._stop.wait(self.threshold / 4):
            beat = self._beat
            if time.monotonic() - beat > self.threshold and beat != logged:
                logged = beat  # one stack per stall
                frame = sys._current_frames().get(self._thread_id)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame, limit=12))
                    log.warning("event loop held over %.0f ms, in:\n%s", self.threshold * 1000, stack)

    def stop(self) -> None:
        self._stop.set()
