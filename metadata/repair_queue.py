"""The repair queue: shards someone found missing or corrupt, kept for the repair worker.

The S3 API queues the shards a PUT (or UploadPart) could not write and those a reader found
corrupt or missing; the background service's repair worker queues its data nodes' scrub
findings, takes the queue before its periodic per-PG check and acks an item once the shard is
on its target, verified (or its blob is no longer referenced). The rows live in the catalog
shard, so they are replicated like every other mutation (`QueueRepairs`, `AckRepairs`;
the service side is repair_queue_ops.py). One
row per shard: a shard reported again replaces its row under a new id, so an ack of the older
id (a pass that read the queue before the new report) leaves the new report queued.
"""

from __future__ import annotations

import sqlite3

from cairn.metadata import commands as c
from cairn.metadata.models import RepairItem, RepairReport

KINDS = frozenset({"missing", "corrupt"})
SOURCES = frozenset({"put", "read", "scrub"})


def queue(conn: sqlite3.Connection, cmd: c.QueueRepairs) -> int:
    """Applier: one row per report (replacing the shard's queued row); returns the count."""
    for r in cmd.reports:
        conn.execute(
            "INSERT OR REPLACE INTO repair_queue (blob_id, idx, pg, kind, source, node, reported_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (r.blob_id, r.index, r.pg, r.kind, r.source, r.node, cmd.now_ms),
        )
    return len(cmd.reports)


def ack(conn: sqlite3.Connection, cmd: c.AckRepairs) -> int:
    """Applier: drop the rows with these ids; returns how many were still queued."""
    found = 0
    for item_id in cmd.ids:
        found += conn.execute("DELETE FROM repair_queue WHERE id = ?", (item_id,)).rowcount
    return found


def read_queue(conn: sqlite3.Connection, limit: int) -> list[RepairItem]:
    rows = conn.execute(
        "SELECT id, blob_id, idx, pg, kind, source, node, reported_ms FROM repair_queue ORDER BY id LIMIT ?",
        (limit,),
    )
    return [RepairItem(r[0], RepairReport(bytes(r[1]), r[2], r[3], r[4], r[5], r[6]), r[7]) for r in rows]
