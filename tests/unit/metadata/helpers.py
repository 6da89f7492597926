"""Small builders shared by the metadata unit tests."""

from __future__ import annotations

import hashlib
import uuid

from cairn.blobs import BlobRef
from cairn.metadata.models import ObjectAttrs

STRIPE_SIZE = 1 << 20


def blob(size: int = 1, pg: int = 0) -> BlobRef:
    return BlobRef(uuid.uuid4().bytes, pg, size, STRIPE_SIZE, 8, 4)


def attrs(body: bytes = b"x", **extra: object) -> ObjectAttrs:
    """Attributes of a single-blob object with body `body` (ETag = its MD5)."""
    return ObjectAttrs(size=len(body), etag=hashlib.md5(body).hexdigest(), blobs=(blob(len(body)),), **extra)  # type: ignore[arg-type]
