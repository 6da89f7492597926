"""`BlobRef`: where one erasure-coded blob lives and how it was striped.

One value shared by every service that handles blobs: the S3 API's data path returns it from a
write and reads with it, the metadata service records it in each object version and multipart
part (its canonical JSON columns and `proto/metadata.proto` use these field names), and the
background service reclaims by it. The layout fields are the ones the blob was *written* with:
a reader decodes with them, never with the cluster's current default, so old blobs stay
readable after the default k/m or stripe size changes.

This module imports nothing beyond the standard library (no erasure codec, no grpc), so the
metadata service can use it without loading the codec's native library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlobRef:
    """One blob of an object's bytes, in object order."""

    blob_id: bytes
    """16 UUID bytes (cairn.ids.new_blob_id)."""
    pg: int
    """Placement group holding the blob's shards."""
    size: int
    """Bytes of the object this blob holds."""
    stripe_size: int
    """Bytes of blob per stripe before erasure coding."""
    data_shards: int
    """k: data pieces per stripe."""
    parity_shards: int
    """m: parity pieces per stripe."""
    part_number: int = 0
    """The multipart part this blob belongs to (0: a single PUT)."""
    sealed_key: bytes = b""
    """The blob's data key, sealed (cairn/sse_crypto.py); b"" when the blob is not encrypted.
    An encrypted blob holds ciphertext: `size` counts its stored (ciphertext) bytes."""
    inline: bytes = b""
    """An inline blob's stored bytes (api_service/inline.py): a small body kept in the version row
    itself, with no shards, no write intent and nothing for GC or repair (blob_id b"", pg 0,
    stripe_size, data_shards and parity_shards 0)."""

    @property
    def is_inline(self) -> bool:
        return self.data_shards == 0


def on_nodes(blobs: tuple[BlobRef, ...]) -> tuple[BlobRef, ...]:
    """The blobs of `blobs` that have shards on data nodes (not inline)."""
    return tuple(b for b in blobs if not b.is_inline)
