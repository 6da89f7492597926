"""One log format for every Cairn process: plain text by default, JSON lines on request.

Every record carries the time (UTC, milliseconds), the level, the service (`placement`,
`metadata`, `datanode`, `api`, `up`), the instance id within the service (a placement
replica's id, a data node's id; empty where a service has one instance), the logger and the
message. Text:

    2026-03-01T12:00:00.123Z INFO placement[p1] cairn.raft.node: raft p1 is leader at term 3

JSON (`--log-format json`), one object per line, with the keys time, level, service, id,
logger, message, exc (the traceback) when the record has one, and fields when the record was
logged with `extra={"fields": {...}}` (the S3 access log's request id, operation, status, ...).

Each service's `__main__` calls `setup()` once; the S3 API hands `dict_config()` to uvicorn,
which applies it in every worker process as well.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

FORMATS = ("text", "json")

#: The instance id: a fixed string, or a function asked until it returns one (a data node learns
#: its id from the placement service after it started logging).
Instance = str | Callable[[], str | None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--log-format` and `--log-level` flags every service offers."""
    parser.add_argument(
        "--log-format", choices=FORMATS, default="text", help="text (default) or json (one object a line)"
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO (default), WARNING, ERROR")


class _Fields:
    """What every Cairn formatter adds to a record: time, service and instance."""

    def __init__(self, service: str, instance: Instance) -> None:
        self.service = service
        self._instance = instance
        self._known: str | None = instance if isinstance(instance, str) else None

    def instance(self) -> str:
        if self._known is None and callable(self._instance):
            self._known = self._instance()
        return self._known or ""

    #: the last second formatted, and its text up to the milliseconds (a busy S3 API logs
    #: thousands of access lines a second, each formatting the same second)
    _second: tuple[int, str] = (-1, "")

    @classmethod
    def time(cls, record: logging.LogRecord) -> str:
        now = int(record.created)
        second, text = cls._second
        if now != second:
            text = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            cls._second = (now, text)
        return f"{text}{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    def __init__(self, service: str, instance: Instance = "") -> None:
        super().__init__()
        self.fields = _Fields(service, instance)

    def format(self, record: logging.LogRecord) -> str:
        instance = self.fields.instance()
        who = f"{self.fields.service}[{instance}]" if instance else self.fields.service
        line = f"{self.fields.time(record)} {record.levelname} {who} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, instance: Instance = "") -> None:
        super().__init__()
        self.fields = _Fields(service, instance)

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.fields.time(record),
            "level": record.levelname,
            "service": self.fields.service,
            "id": self.fields.instance(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc["fields"] = fields
        return json.dumps(doc, ensure_ascii=False)


def formatter(fmt: str, service: str, instance: Instance = "") -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (choose from {', '.join(FORMATS)})")
    return JsonFormatter(service, instance) if fmt == "json" else TextFormatter(service, instance)


def dict_config(fmt: str, service: str, instance: str = "", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` document: every logger, uvicorn's included, through one
    stderr handler with the Cairn formatter."""
    formatter(fmt, service)  # validates fmt
    cls = "cairn.logs.JsonFormatter" if fmt == "json" else "cairn.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cairn": {"()": cls, "service": service, "instance": instance}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "cairn", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's loggers would otherwise keep handlers of their own
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
        },
    }


def setup(fmt: str, service: str, instance: Instance = "", level: str = "INFO") -> None:
    """Route every log record of this process to stderr in the Cairn format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt, service, instance))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
