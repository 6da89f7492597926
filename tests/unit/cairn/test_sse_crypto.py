"""The segmented AES-256-GCM format and sealed data keys (cairn/sse_crypto.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from cairn import sse_crypto as c
from cairn.sse_crypto import SEGMENT, TAG, Identity, Keyring

ID = Identity("bucket", "key", 0)


async def _chunks(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _encrypt(data: bytes, key: bytes, identity: Identity = ID) -> bytes:
    async def run() -> bytes:
        return b"".join([p async for p in c.encrypt_stream(_chunks(data), key, identity)])

    return asyncio.run(run())


def _decrypt(stored: bytes, key: bytes, start: int, end: int, identity: Identity = ID) -> bytes:
    first, lo, hi = c.cipher_range(len(stored), start, end)

    async def run() -> bytes:
        segments = c.decrypt_segments(
            _chunks(stored[lo : hi + 1], 7000),
            key,
            identity,
            len(stored),
            first,
            start - first * SEGMENT,
            end - start + 1,
        )
        return b"".join([p async for p in segments])

    return asyncio.run(run())


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 17])
def test_sizes_round_trip_and_ranges_open_only_their_segments(size: int) -> None:
    data = os.urandom(size)
    key = c.new_data_key()
    stored = _encrypt(data, key)
    assert len(stored) == c.stored_size(size)
    assert c.plain_size(len(stored)) == size
    if size == 0:
        return
    assert _decrypt(stored, key, 0, size - 1) == data
    for start, end in [(0, 0), (size - 1, size - 1), (size // 3, size // 2), (SEGMENT - 3, SEGMENT + 5)]:
        end = min(end, size - 1)
        if start <= end:
            assert _decrypt(stored, key, start, end) == data[start : end + 1]


def test_tampering_truncation_and_another_identity_fail() -> None:
    data = os.urandom(2 * SEGMENT + 100)
    key = c.new_data_key()
    stored = _encrypt(data, key)
    flipped = bytearray(stored)
    flipped[SEGMENT + TAG + 5] ^= 1
    with pytest.raises(c.DecryptFailed):
        _decrypt(bytes(flipped), key, 0, len(data) - 1)
    truncated = stored[: 2 * (SEGMENT + TAG)]  # drop the final segment: the last one left is not final
    with pytest.raises(c.DecryptFailed):
        _decrypt(truncated, key, 0, 2 * SEGMENT - 1)
    with pytest.raises(c.DecryptFailed):
        _decrypt(stored, key, 0, 10, Identity("bucket", "other"))
    with pytest.raises(c.DecryptFailed):
        _decrypt(stored, key, 0, 10, Identity("bucket", "key", 2))
    swapped = (
        stored[SEGMENT + TAG : 2 * (SEGMENT + TAG)] + stored[: SEGMENT + TAG] + stored[2 * (SEGMENT + TAG) :]
    )
    with pytest.raises(c.DecryptFailed):
        _decrypt(swapped, key, 0, 10)


def test_keyring_seals_and_rotation_keeps_old_seals_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ring = Keyring.generate()
    data_key = c.new_data_key()
    sealed = ring.seal(data_key, ID)
    assert data_key not in sealed
    assert ring.unseal(sealed, ID) == data_key
    with pytest.raises(c.DecryptFailed):
        ring.unseal(sealed, Identity("bucket", "elsewhere"))
    rotated = ring.rotated()
    assert rotated.active != ring.active
    assert rotated.unseal(sealed, ID) == data_key
    assert c.parse_sealed(rotated.seal(data_key, ID))[0] == rotated.active
    with pytest.raises(c.KeyUnavailable):
        Keyring.generate().unseal(sealed, ID)
    path = tmp_path / "keyring.json"
    rotated.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Keyring.load(path) == rotated


def test_a_keyring_file_follows_its_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cairn.sse_crypto import KeyringFile

    path = tmp_path / "keyring.json"
    first = Keyring.generate()
    first.save(path)
    follower = KeyringFile(path, check_s=3600.0)
    sealed = follower.seal(b"k" * 32, ID)
    rotated = first.rotated()
    rotated.save(path)
    # a seal naming a key it lacks makes it look at once, whatever the check interval
    newer = rotated.seal(b"n" * 32, ID)
    assert follower.unseal(newer, ID) == b"n" * 32 and follower.current().active == rotated.active
    assert follower.unseal(sealed, ID) == b"k" * 32
    rotated.without({first.active}).save(path)
    assert follower.current(now=True).keys.keys() == {rotated.active}
    path.write_text("{damaged")
    assert follower.current(now=True).active == rotated.active  # the last good keyring stays
