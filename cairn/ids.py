"""Identifier types shared across services, and how fresh ones are made."""

from __future__ import annotations

import uuid
from typing import NewType

BlobId = NewType("BlobId", bytes)
"""16 raw bytes of a UUID4: one immutable byte run (a PUT body or one multipart part)."""

NodeId = NewType("NodeId", str)
"""A data node's id in the cluster map, assigned by the placement service on first heartbeat."""

PgId = NewType("PgId", int)
"""A placement group number in [0, P)."""


def new_blob_id() -> BlobId:
    """A fresh random blob id."""
    return BlobId(uuid.uuid4().bytes)


def blob_id_str(blob_id: bytes) -> str:
    """The canonical text form (hyphenated UUID) of a blob id, for logs and file names."""
    return str(uuid.UUID(bytes=bytes(blob_id)))
