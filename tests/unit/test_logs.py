"""The gateway's log lines are written by a thread of their own: a log call returns while the
writer is stuck (a full pipe, a slow disk), and what was queued is written once it moves."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from aistack.logs import configure_logging, stop_writer


class StuckStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.moving = threading.Event()

    def write(self, text: str) -> int:
        self.moving.wait(10)
        return super().write(text)


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch):
    """A stuck stderr; each test sets it itself (pytest's capture sets sys.stderr again once the
    fixtures are done)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stuck = StuckStream()
    yield stuck
    stuck.moving.set()
    stop_writer()
    root.handlers[:], root.level = handlers, level


def test_a_log_call_never_waits_for_the_writer(stream: StuckStream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("info", "json")
    returned = threading.Event()

    def log() -> None:
        logging.getLogger("aistack.test").info("request", extra={"fields": {"status": 200}})
        returned.set()

    threading.Thread(target=log, daemon=True).start()
    assert returned.wait(2), "the log call waited for a stuck stderr"
    assert stream.getvalue() == ""
    stream.moving.set()
    configure_logging("info", "json")  # stops the old writer, which writes what it holds first
    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["msg"] == "request" and line["status"] == 200 and line["logger"] == "aistack.test"


def test_the_fields_and_traceback_are_those_of_the_moment_of_the_call(stream: StuckStream,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("info", "json")
    fields = {"status": 500}
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("aistack.test").exception("failed", extra={"fields": fields})
    fields["status"] = 200  # changed after the call: the line keeps what was logged
    stream.moving.set()
    configure_logging("info", "json")
    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["status"] == 500 and "ValueError: boom" in line["exc"]
