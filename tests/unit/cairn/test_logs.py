"""One log format for every service: text by default, JSON lines on request."""

from __future__ import annotations

import datetime
import json
import logging
import logging.config
import re
import sys
from collections.abc import Iterator

import pytest

from cairn import logs


@pytest.fixture
def root_logger() -> Iterator[None]:
    """Restores the root logger's handlers and level after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("cairn.raft.node", logging.INFO, __file__, 1, message, args, exc_info)


def test_text_lines_carry_time_level_service_id_logger_and_message() -> None:
    line = logs.formatter("text", "placement", "p1").format(_record("raft %s is leader at term %d", "p1", 3))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO placement\[p1\] cairn\.raft\.node: "
        r"raft p1 is leader at term 3",
        line,
    )
    assert " INFO metadata cairn.raft.node: x" in logs.formatter("text", "metadata").format(_record("x"))


def test_json_lines_are_one_object_each_with_the_traceback_inside() -> None:
    line = logs.formatter("json", "datanode", "dn-0003").format(
        _record('it said "%s"\nagain', "hi", exc=True)
    )
    assert "\n" not in line
    doc = json.loads(line)
    assert {k: doc[k] for k in ("level", "service", "id", "logger", "message")} == {
        "level": "INFO",
        "service": "datanode",
        "id": "dn-0003",
        "logger": "cairn.raft.node",
        "message": 'it said "hi"\nagain',
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["time"])
    assert doc["exc"].startswith("Traceback") and "ValueError: boom" in doc["exc"]


def test_an_instance_id_learned_later_shows_from_then_on() -> None:
    assigned: list[str] = []
    fmt = logs.formatter("json", "datanode", lambda: assigned[0] if assigned else None)
    assert json.loads(fmt.format(_record("before")))["id"] == ""
    assigned.append("dn-0007")
    assert json.loads(fmt.format(_record("after")))["id"] == "dn-0007"


def test_setup_routes_every_logger_through_one_handler(
    root_logger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger().addHandler(logging.StreamHandler())  # e.g. an earlier basicConfig
    logs.setup("json", "up", level="WARNING")
    logging.getLogger("cairn.up").info("hidden")
    logging.getLogger("cairn.up").warning("shown")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["shown"]


def test_uvicorn_gets_the_same_format_in_every_worker(root_logger: None) -> None:
    logging.config.dictConfig(logs.dict_config("json", "api", level="info"))  # as uvicorn does in each worker
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, logs.JsonFormatter)
    assert logging.getLogger("uvicorn.error").handlers == [] and logging.getLogger("uvicorn.error").propagate
    doc = json.loads(handler.formatter.format(_record("Started server process")))
    assert (doc["service"], doc["id"]) == ("api", "")
    with pytest.raises(ValueError, match="unknown log format"):
        logs.dict_config("yaml", "api")


def test_the_time_of_a_line_is_its_record_s_whatever_was_logged_before() -> None:
    """The formatted second is reused while records fall in it: never for another second."""
    text = logs.formatter("text", "api")
    for second, msecs in (
        (1_764_886_500, 123),
        (1_764_886_500, 999),
        (1_764_886_501, 0),
        (1_700_000_000, 50),
    ):
        record = _record("x")
        record.created, record.msecs = second + msecs / 1000, msecs
        want = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert text.format(record).startswith(f"{want}.{msecs:03d}Z INFO api ")
