"""The open volumes of one store, by id, with reader pins.

Compaction retires a volume while reads of it may still be in flight: a reader looked the
shard up in the index just before compaction switched the row to the new volume. So every
read pins the volume it reads; `retire` takes the volume out of the set at once (no new pin
can find it, and the reader looks the row up again, see `DiskShardStore._read_blocking`), but
its file descriptor stays open until the last pin is released. Unlinking the file while it is
open is fine on POSIX: reads through the open descriptor keep returning the old bytes, and the
space comes back when the descriptor closes.

Invariants:
- A pinned volume is never closed.
- `pin` never returns a retired volume.
- Volume ids only grow: `allocate_id` hands out each id once per process, and callers seed
  it past every id found on disk or in the index.
- Thread-safe: one lock guards the set, the pins and the id counter.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterator

from cairn.datanode.volume import VolumeFile


class VolumeSet:
    def __init__(self, volumes: dict[int, VolumeFile], next_id: int) -> None:
        self._volumes = dict(volumes)
        self._next_id = next_id
        self._pins: dict[VolumeFile, int] = {}
        self._retired: set[VolumeFile] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._volumes)

    def get(self, volume_id: int) -> VolumeFile | None:
        return self._volumes.get(volume_id)

    def all(self) -> list[VolumeFile]:
        with self._lock:
            return list(self._volumes.values())

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._volumes)

    @property
    def used_bytes(self) -> int:
        return sum(v.size for v in self.all())

    def allocate_id(self) -> int:
        with self._lock:
            volume_id = self._next_id
            self._next_id += 1
            return volume_id

    def reserve_past(self, volume_id: int) -> None:
        """Never hand out `volume_id` or anything below it."""
        with self._lock:
            self._next_id = max(self._next_id, volume_id + 1)

    def add(self, volume: VolumeFile) -> None:
        with self._lock:
            if volume.volume_id in self._volumes:
                raise ValueError(f"volume {volume.volume_id} is already open")
            self._volumes[volume.volume_id] = volume
            self._next_id = max(self._next_id, volume.volume_id + 1)

    def pin(self, volume_id: int) -> VolumeFile | None:
        """The volume, pinned open until `unpin`; None if it is unknown or retired."""
        with self._lock:
            volume = self._volumes.get(volume_id)
            if volume is not None:
                self._pins[volume] = self._pins.get(volume, 0) + 1
            return volume

    def unpin(self, volume: VolumeFile) -> None:
        with self._lock:
            left = self._pins[volume] - 1
            if left:
                self._pins[volume] = left
                return
            del self._pins[volume]
            close = volume in self._retired
            self._retired.discard(volume)
        if close:
            volume.close()

    def pinned_chunks(self, volume: VolumeFile, chunks: Iterator[bytes]) -> PinnedChunks:
        """`chunks` (read from a pinned `volume`) that release the pin when exhausted,
        failed, closed or garbage collected."""
        return PinnedChunks(chunks, functools.partial(self.unpin, volume))

    def retire(self, volume_id: int) -> VolumeFile | None:
        """Take a volume out of the set; it closes now, or when its last pin goes."""
        with self._lock:
            volume = self._volumes.pop(volume_id, None)
            if volume is None:
                return None
            if volume in self._pins:
                self._retired.add(volume)
                return volume
        volume.close()
        return volume

    def pins(self, volume: VolumeFile) -> int:
        with self._lock:
            return self._pins.get(volume, 0)

    def close_all(self) -> None:
        with self._lock:
            volumes = [*self._volumes.values(), *self._retired]
            self._volumes.clear()
            self._retired.clear()
        for volume in volumes:
            volume.close()


class PinnedChunks:
    """An iterator of verified chunks that holds a volume pin until it ends.

    The pin is released when the iteration ends or fails, on `close()`, or when the iterator
    is garbage collected (a reader that stops early), whichever comes first, and only once.
    """

    def __init__(self, chunks: Iterator[bytes], release: Callable[[], None]) -> None:
        self._chunks = chunks
        self._release = weakref.finalize(self, release)

    def __iter__(self) -> PinnedChunks:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except BaseException:
            self._release()
            raise

    def close(self) -> None:
        self._release()
