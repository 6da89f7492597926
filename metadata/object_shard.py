"""The applier of an object shard: each command to the module that owns its tables.

Versions, write intents and the GC queue are `objects`; multipart uploads and parts are
`multipart` (which builds on `objects` to commit a completed upload). This module sits above
both, so neither imports the other's dispatcher. Like every applier it runs inside the shard's
transaction (`shard.Shard`), reads no clock and returns the command's result value.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cairn.metadata import commands as c
from cairn.metadata import kms_reseal, multipart, objects


def apply_object(conn: sqlite3.Connection, cmd: Any) -> Any:
    """Apply one object-shard command; returns its result value."""
    match cmd:
        case c.PutVersion():
            return objects.put(conn, cmd)
        case c.PutBatch():
            return objects.put_batch(conn, cmd)
        case c.DeleteVersion():
            return objects.delete(conn, cmd)
        case c.SetTags():
            return objects.set_tags(conn, cmd)
        case c.SetAcl():
            return objects.set_acl(conn, cmd)
        case c.RecordIntent():
            objects.record_intent(conn, cmd)
            return None
        case c.AckGc():
            return objects.ack_gc(conn, cmd)
        case c.PurgeBucket():
            multipart.purge_bucket(conn, cmd.bucket_id, cmd.now_ms)
            return None
        case c.CreateUpload():
            return multipart.create(conn, cmd)
        case c.RegisterPart():
            return multipart.register(conn, cmd)
        case c.CompleteUpload():
            return multipart.complete(conn, cmd)
        case c.AbortUpload():
            multipart.abort(conn, cmd)
            return None
        case c.ResealBlobKeys():
            return kms_reseal.apply(conn, cmd)
    raise TypeError(f"not an object command: {type(cmd).__name__}")
