"""Time-ordered ids for object versions and multipart uploads, issued by the metadata service.

An id is 12 bytes: 48-bit milliseconds since the epoch (big endian), a 16-bit counter that
orders ids issued within the same millisecond, and 32 random bits. Its text form is the 96
bits (padded with 4 zero bits) in Crockford base32, 20 characters whose alphabet is in ASCII
order, so the lexical order of the text equals the byte order equals the issue order.

Invariants: one `IdIssuer` never issues the same id twice and never goes backwards, even when
the wall clock does (it keeps using its last millisecond and bumps the counter; if the counter
overflows it moves to the next millisecond). The clock is injected so tests need no sleeps.
Store rows use the *inverted* bytes (`rev`) so an ascending index scan yields newest first.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

ID_BYTES = 12
TEXT_LEN = 20
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class IdIssuer:
    """Issues strictly increasing 12-byte ids; thread-safe."""

    def __init__(
        self,
        clock_ms: Callable[[], int] = wall_clock_ms,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock_ms = clock_ms
        self._random = random_bytes
        self._last_ms = -1
        self._counter = 0
        self._lock = threading.Lock()

    def issue(self) -> bytes:
        with self._lock:
            now = self._clock_ms()
            if now > self._last_ms:
                self._last_ms, self._counter = now, 0
            else:
                self._counter += 1
                if self._counter > 0xFFFF:
                    self._last_ms, self._counter = self._last_ms + 1, 0
            ms, counter = self._last_ms, self._counter
        return ms.to_bytes(6, "big") + counter.to_bytes(2, "big") + self._random(4)

    def issue_text(self) -> str:
        return encode(self.issue())


def encode(raw: bytes) -> str:
    """The 20-character text form of a 12-byte id."""
    if len(raw) != ID_BYTES:
        raise ValueError(f"an id is {ID_BYTES} bytes, got {len(raw)}")
    n = int.from_bytes(raw, "big") << 4
    chars = []
    for _ in range(TEXT_LEN):
        chars.append(_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(chars))


def decode(text: str) -> bytes:
    """The 12 bytes of a text id; ValueError if `text` is not one."""
    if len(text) != TEXT_LEN:
        raise ValueError("bad id length")
    n = 0
    for c in text:
        i = _INDEX.get(c)
        if i is None:
            raise ValueError("bad id character")
        n = (n << 5) | i
    if n & 0xF:
        raise ValueError("bad id padding")
    return (n >> 4).to_bytes(ID_BYTES, "big")


def is_valid(text: str) -> bool:
    try:
        decode(text)
    except ValueError:
        return False
    return True


def invert(raw: bytes) -> bytes:
    """Bytes that sort in the opposite order (newest first); its own inverse."""
    return bytes(255 - b for b in raw)


def successor(raw: bytes) -> bytes:
    """The next id after `raw` (used when a replica must order a command after existing rows)."""
    n = int.from_bytes(raw, "big") + 1
    return n.to_bytes(ID_BYTES, "big")
