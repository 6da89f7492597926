"""How fresh identifiers are made, and how they are shown in logs and file names."""

from __future__ import annotations

import uuid


def new_blob_id() -> bytes:
    """A fresh blob id: 16 raw bytes of a UUID4 (one immutable byte run: a PUT body or a part)."""
    return uuid.uuid4().bytes


def blob_id_str(blob_id: bytes) -> str:
    """The canonical text form (hyphenated UUID) of a blob id, for logs and file names."""
    return str(uuid.UUID(bytes=bytes(blob_id)))
