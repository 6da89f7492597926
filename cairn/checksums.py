"""CRC32C, the checksum carried by every byte Cairn stores or sends between its services."""

from __future__ import annotations

import crc32c as _crc32c


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC32C (Castagnoli) of `data`, continuing from `value` (0 starts a new checksum)."""
    return _crc32c.crc32c(data, value)
