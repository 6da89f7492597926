"""Encryption at rest, the cryptography: sealed data keys and the segmented blob format.

Every encrypted blob has its own random 256-bit data key. The blob's bytes are the plaintext cut
into segments of `SEGMENT` bytes (the last one shorter), each sealed with AES-256-GCM under the
data key and stored as ciphertext followed by its 16-byte tag, so a ranged read fetches and opens
only the segments it covers. Segment i's nonce is its index (8 bytes, big-endian) and a final
flag (1 byte) padded to 12 bytes: unique under a key used for one blob only. The associated data
binds the blob's identity (bucket, key, part number), the segment index and the final flag, so
segments cannot be reordered, moved to another object, or cut off at a segment boundary (the last
segment must carry the final flag; the number of segments follows from the stored size).

The data key is sealed (AES-256-GCM, random nonce) under a key-encryption key: a master key of
the cluster's `Keyring` (SSE-S3), or the customer's key (SSE-C). The sealed form names the
master key by id, so a keyring can hold retired keys and re-sealing under a new one never touches
the blob. The associated data of a seal binds the same identity as the segments.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cairn.durable_file import write_atomic

#: Plaintext bytes per segment; each is stored as SEGMENT + TAG bytes.
SEGMENT = 64 * 1024
TAG = 16
KEY_BYTES = 32
_SEAL_VERSION = 1
_NONCE = 12
#: The environment variable holding a keyring (its JSON text) instead of a file, e.g. from a
#: Kubernetes Secret.
KEYRING_ENV = "CAIRN_MASTER_KEYRING"


class KeyUnavailable(Exception):
    """A sealed data key names a master key this keyring does not hold."""


class DecryptFailed(Exception):
    """A sealed key or a segment did not authenticate: wrong key, or tampered or damaged bytes."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a blob's ciphertext is bound to: the object (bucket and key) and its part number."""

    bucket: str
    key: str
    part_number: int = 0

    def encode(self) -> bytes:
        b, k = self.bucket.encode(), self.key.encode("utf-8", "surrogatepass")
        return (
            struct.pack(">I", len(b))
            + b
            + struct.pack(">I", len(k))
            + k
            + struct.pack(">I", self.part_number)
        )


# --- the keyring of cluster master keys ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Keyring:
    """The cluster's master keys by id; `active` seals new data keys, the others only open."""

    active: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ValueError(f"the active master key {self.active!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES or not key_id or len(key_id.encode()) > 255:
                raise ValueError(f"master key {key_id!r} must be {KEY_BYTES} bytes with a short id")

    @staticmethod
    def generate() -> Keyring:
        key_id = "mk-" + secrets.token_hex(4)
        return Keyring(key_id, {key_id: AESGCM.generate_key(256)})

    def rotated(self) -> Keyring:
        """This keyring with a new active key (the old ones kept to open existing seals)."""
        new = Keyring.generate()
        return Keyring(new.active, {**self.keys, **new.keys})

    def to_json(self) -> str:
        keys = {k: base64.b64encode(v).decode() for k, v in sorted(self.keys.items())}
        return json.dumps({"active": self.active, "keys": keys}, indent=2) + "\n"

    @staticmethod
    def from_json(text: str) -> Keyring:
        doc = json.loads(text)
        return Keyring(doc["active"], {k: base64.b64decode(v) for k, v in doc["keys"].items()})

    def save(self, path: Path) -> None:
        write_atomic(path, self.to_json().encode(), mode=0o600)

    @staticmethod
    def load(path: Path) -> Keyring:
        return Keyring.from_json(path.read_text())

    @staticmethod
    def from_environment(path: Path | None) -> MasterKeys | None:
        """The keyring in $CAIRN_MASTER_KEYRING (fixed for the process's life), else in the file
        `path` (re-read when it changes: KeyringFile), else None."""
        text = os.environ.get(KEYRING_ENV)
        if text:
            return Keyring.from_json(text)
        if path is not None:
            return KeyringFile(path)
        return None

    def current(self) -> Keyring:
        return self

    def without(self, key_ids: set[str]) -> Keyring:
        """This keyring less the retired keys `key_ids` (never the active one)."""
        if self.active in key_ids:
            raise ValueError("the active master key cannot be retired")
        return Keyring(self.active, {k: v for k, v in self.keys.items() if k not in key_ids})

    def seal(self, data_key: bytes, identity: Identity | bytes) -> bytes:
        return seal_with(self.keys[self.active], self.active, data_key, identity)

    def unseal(self, sealed: bytes, identity: Identity | bytes) -> bytes:
        key_id, _ = parse_sealed(sealed)
        if key_id not in self.keys:
            raise KeyUnavailable(f"master key {key_id!r} is not in this keyring")
        return unseal_with(self.keys[key_id], sealed, identity)


class MasterKeys(Protocol):
    """A source of the cluster keyring: a `Keyring`, or a `KeyringFile` following its file."""

    def current(self) -> Keyring: ...

    def seal(self, data_key: bytes, identity: Identity | bytes) -> bytes: ...

    def unseal(self, sealed: bytes, identity: Identity | bytes) -> bytes: ...


class KeyringFile:
    """The keyring in a file, re-read when the file changes (its mtime or size; looked at most
    every `check_s` seconds, and at once when a seal names a key this process does not hold), so
    a master-key rotation (`cairn admin kms rotate-master`) reaches running processes without a
    restart."""

    def __init__(self, path: Path, check_s: float = 1.0) -> None:
        self.path = path
        self.check_s = check_s
        self._stamp = self._stat()
        self._keyring = Keyring.load(path)
        self._checked = time.monotonic()

    def _stat(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return st.st_mtime_ns, st.st_size, st.st_ino

    def current(self, *, now: bool = False) -> Keyring:
        if now or time.monotonic() - self._checked >= self.check_s:
            self._checked = time.monotonic()
            try:
                stamp = self._stat()
                if stamp != self._stamp:
                    self._keyring, self._stamp = Keyring.load(self.path), stamp
            except (OSError, ValueError, KeyError):
                pass  # mid-replacement or damaged: keep the last good keyring
        return self._keyring

    def seal(self, data_key: bytes, identity: Identity | bytes) -> bytes:
        return self.current().seal(data_key, identity)

    def unseal(self, sealed: bytes, identity: Identity | bytes) -> bytes:
        try:
            return self.current().unseal(sealed, identity)
        except KeyUnavailable:
            return self.current(now=True).unseal(sealed, identity)


def _seal_aad(key_id: str, identity: Identity | bytes) -> bytes:
    bound = identity.encode() if isinstance(identity, Identity) else identity
    return b"cairn-sse-data-key-v1\x00" + key_id.encode() + b"\x00" + bound


def seal_with(kek: bytes, key_id: str, data_key: bytes, identity: Identity | bytes) -> bytes:
    """`data_key` sealed under `kek` (a master key named `key_id`, a KMS key, or a customer key
    and ""), bound to a blob's `identity` or to other context bytes (a KMS encryption context)."""
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(kek).encrypt(nonce, data_key, _seal_aad(key_id, identity))
    name = key_id.encode()
    return bytes([_SEAL_VERSION, len(name)]) + name + nonce + sealed


def parse_sealed(sealed: bytes) -> tuple[str, int]:
    """The key id a sealed data key names, and where its nonce starts."""
    if len(sealed) < 2 or sealed[0] != _SEAL_VERSION:
        raise DecryptFailed("unknown sealed key format")
    end = 2 + sealed[1]
    return sealed[2:end].decode(), end


def unseal_with(kek: bytes, sealed: bytes, identity: Identity | bytes) -> bytes:
    key_id, at = parse_sealed(sealed)
    nonce, body = sealed[at : at + _NONCE], sealed[at + _NONCE :]
    try:
        return AESGCM(kek).decrypt(nonce, body, _seal_aad(key_id, identity))
    except InvalidTag:
        raise DecryptFailed("the data key did not unseal") from None


def new_data_key() -> bytes:
    return AESGCM.generate_key(256)


# --- segments ----------------------------------------------------------------------------------
def _nonce(index: int, final: bool) -> bytes:
    return struct.pack(">QB", index, final) + b"\x00\x00\x00"


def _segment_aad(identity: bytes, index: int, final: bool) -> bytes:
    return b"cairn-sse-segment-v1\x00" + identity + struct.pack(">QB", index, final)


def stored_size(plain: int) -> int:
    """Ciphertext bytes of a blob holding `plain` bytes (at least one segment)."""
    segments = max(1, -(-plain // SEGMENT))
    return plain + segments * TAG


def plain_size(stored: int) -> int:
    """Plaintext bytes of an encrypted blob of `stored` bytes."""
    segments = max(1, -(-stored // (SEGMENT + TAG)))
    return stored - segments * TAG


async def encrypt_stream(
    body: AsyncIterable[bytes], data_key: bytes, identity: Identity
) -> AsyncIterator[bytes]:
    """The sealed segments of `body`. A segment is sealed once it is known whether it is the
    last, so one segment of plaintext stays buffered."""
    aead, ident = AESGCM(data_key), identity.encode()
    pending = b""  # at most one segment's plaintext, not sealed yet
    index = 0

    def seal(chunk: bytes | memoryview, final: bool) -> bytes:
        return aead.encrypt(_nonce(index, final), chunk, _segment_aad(ident, index, final))

    async for piece in body:
        view, at = memoryview(piece), 0
        if pending:
            need = SEGMENT - len(pending)
            if len(view) <= need:  # whether more follows is not known yet
                pending += piece
                continue
            yield seal(pending + view[:need], False)
            index += 1
            at = need
        while len(view) - at > SEGMENT:  # more follows this segment: not the final one
            yield seal(view[at : at + SEGMENT], False)
            at += SEGMENT
            index += 1
        pending = bytes(view[at:])
    yield seal(pending, True)


def cipher_range(stored: int, start: int, end: int) -> tuple[int, int, int]:
    """For plaintext bytes [start, end] of a blob of `stored` bytes: the first segment index and
    the stored byte range [lo, hi] of the segments holding them."""
    first, last = start // SEGMENT, end // SEGMENT
    lo = first * (SEGMENT + TAG)
    hi = min((last + 1) * (SEGMENT + TAG), stored) - 1
    return first, lo, hi


async def decrypt_segments(
    chunks: AsyncIterable[bytes],
    data_key: bytes,
    identity: Identity,
    stored: int,
    first: int,
    skip: int,
    length: int,
) -> AsyncIterator[bytes]:
    """Open the sealed segments arriving in `chunks` (starting with segment `first`); yield
    `length` plaintext bytes beginning `skip` bytes into the first segment."""
    aead, ident = AESGCM(data_key), identity.encode()
    last_index = max(1, -(-stored // (SEGMENT + TAG))) - 1
    index = first

    def open_one(sealed: bytes | memoryview) -> bytes:
        final = index == last_index
        try:
            return aead.decrypt(_nonce(index, final), sealed, _segment_aad(ident, index, final))
        except InvalidTag:
            raise DecryptFailed(f"segment {index} did not authenticate") from None

    async def segments() -> AsyncIterator[bytes]:
        nonlocal index
        step, buffer = SEGMENT + TAG, b""
        async for piece in chunks:
            buffer = buffer + piece if buffer else bytes(piece)
            view, at = memoryview(buffer), 0
            while len(buffer) - at >= step:
                yield open_one(view[at : at + step])
                at += step
                index += 1
            if at:
                buffer = bytes(view[at:])
        if buffer:
            yield open_one(buffer)

    remaining = length
    async for plain in segments():
        if skip:
            plain = plain[skip:]
            skip = 0
        if len(plain) > remaining:
            plain = plain[:remaining]
        remaining -= len(plain)
        if plain:
            yield plain
        if remaining == 0:
            return
    if remaining:
        raise DecryptFailed("the blob ended before the requested range")
