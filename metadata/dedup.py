"""Exactly-once commands: the replicated table of request ids and their first results.

A mutating request carries a request id chosen by the client once per logical call and kept
across its retries (`client.py`). The proposer puts it, with the leader's clock at proposal
time, in the log entry's header (`replicated.encode_entry`). When the entry applies, the shard
it targets looks the id up in its `requests` table: a hit returns the stored result (or
re-raises the stored domain error) and applies nothing; a miss applies the command and stores
its result in the same transaction as its effects. So a retry after a lost reply or a leader
change gets the first result back, on whichever replica now leads.

Retention is deterministic, driven by the entry being applied (never by the applying
replica's clock): rows older than `KEEP_ENTRIES` log entries or `KEEP_MS` of proposal time
are dropped as each new row is written. A retry later than that is applied as a new request.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

from cairn.metadata import canonical_json, models
from cairn.metadata.errors import MetadataError, error_class

KEEP_ENTRIES = 500_000
KEEP_MS = 15 * 60 * 1000


@dataclasses.dataclass(frozen=True, slots=True)
class RequestTag:
    """What an entry's header carries: the request id and the proposer's clock (ms)."""

    request_id: str
    at_ms: int


_MODELS: dict[str, type[Any]] = {
    name: cls
    for name, cls in vars(models).items()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == models.__name__
}


def encode_result(result: Any) -> bytes:
    """Canonical bytes of an applier's result: a models dataclass, a scalar, None, a list of
    those (PutBatch), or a domain error."""
    return json.dumps(_to_doc(result), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _to_doc(result: Any) -> dict[str, Any]:
    doc: dict[str, Any]
    if isinstance(result, MetadataError):
        doc = {
            "error": result.reason,
            "message": result.message,
            "version_id": result.version_id,
            "is_delete_marker": result.is_delete_marker,
            "last_modified_ms": result.last_modified_ms,
        }
    elif dataclasses.is_dataclass(result) and type(result).__name__ in _MODELS:
        doc = {"type": type(result).__name__, "value": canonical_json.to_plain(result)}
    elif result is None or isinstance(result, str | int | bool):
        doc = {"value": result}
    elif isinstance(result, list | tuple):
        doc = {"list": [_to_doc(r) for r in result]}
    else:
        raise TypeError(f"cannot record a result of type {type(result).__name__}")
    return doc


def decode_result(data: bytes) -> Any:
    return _from_doc(json.loads(data))


def _from_doc(doc: dict[str, Any]) -> Any:
    if "list" in doc:
        return [_from_doc(d) for d in doc["list"]]
    if "error" in doc:
        return error_class(doc["error"])(
            doc["message"],
            version_id=doc["version_id"],
            is_delete_marker=doc["is_delete_marker"],
            last_modified_ms=doc["last_modified_ms"],
        )
    if "type" in doc:
        return canonical_json.from_plain(_MODELS[doc["type"]], doc["value"])
    return doc["value"]


_MISSING = object()


def lookup(conn: sqlite3.Connection, request_id: str) -> Any:
    """The recorded result of `request_id` in this shard, or `MISSING`."""
    row = conn.execute("SELECT result FROM requests WHERE request_id = ?", (request_id,)).fetchone()
    return _MISSING if row is None else decode_result(row[0])


def is_missing(found: Any) -> bool:
    return found is _MISSING


def remember(conn: sqlite3.Connection, tag: RequestTag, index: int, result: Any) -> None:
    """Record `result` for `tag` at log `index` and drop rows past the retention window."""
    # Two statements, each searching its own index: with OR, SQLite scans the whole table.
    conn.execute("DELETE FROM requests WHERE raft_index <= ?", (index - KEEP_ENTRIES,))
    conn.execute("DELETE FROM requests WHERE at_ms < ?", (tag.at_ms - KEEP_MS,))
    conn.execute(
        "INSERT OR REPLACE INTO requests (request_id, raft_index, at_ms, result) VALUES (?, ?, ?, ?)",
        (tag.request_id, index, tag.at_ms, encode_result(result)),
    )
