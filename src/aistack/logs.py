"""Logging: one JSON object per line (or key=value text), with the fields a caller passes as
`extra={"fields": {...}}`. The gateway's lines are written by a thread of their own: a log call
on the event loop only queues the record, so a slow stderr (a pipe, a busy disk) never holds the
loop (the slow-callback sweep found the loop waiting in the handler's write)."""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import queue
import sys
import time

import orjson


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # formatted when it was queued
            line["exc"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


class QueuedRecords(logging.handlers.QueueHandler):
    """Queues a copy of each record as it stands now (its message, its fields, its traceback as
    text); the writer thread formats it."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None
        if hasattr(record, "fields"):
            record.fields = dict(record.fields)
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


_writer: logging.handlers.QueueListener | None = None


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        return f"{record.levelname.lower():7} {record.name}: {record.getMessage()} {fields}".rstrip()


def stop_writer() -> None:
    """Write what is queued, then stop the writer thread."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None


atexit.register(stop_writer)  # what is queued is written before the process exits


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    global _writer
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    stop_writer()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _writer = logging.handlers.QueueListener(records, handler)
    _writer.start()
    root = logging.getLogger()
    root.handlers[:] = [QueuedRecords(records)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the gateway writes its own access line
