"""The start-up check of a replica's shard files, and what to do when one is damaged.

Before the store opens, every shard file the data directory's `layout.json` promises is
checked: a missing file, one SQLite cannot open, or one failing `PRAGMA quick_check` (which
also catches a truncated file) is damaged. The shards are derived state: the Raft snapshot
plus the Raft log hold every applied entry. So when this replica has its Raft state, every
shard file (the intact ones too, so that all shards replay from the same point) is moved
aside to `damaged-<ms>/` and the replica starts with empty shards, which the snapshot restore
and the log replay at start rebuild exactly. Without Raft state there is nothing to rebuild
from: the replica refuses to start (`DamagedStore`) and says how to recover.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cairn.metadata.store import LAYOUT_FILE

log = logging.getLogger("cairn.metadata")


class DamagedStore(RuntimeError):
    """A shard file is damaged and this replica has no Raft state to rebuild it from."""


@dataclass(frozen=True, slots=True)
class Damage:
    file: str
    reason: str


def shard_files(shards: int) -> list[str]:
    return ["catalog.sqlite", *(f"shard-{i:03d}.sqlite" for i in range(shards))]


def check_file(path: Path) -> str | None:
    """Why the SQLite file at `path` is damaged, or None when `PRAGMA quick_check` passes."""
    if not path.exists():
        return "missing"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"cannot be read: {exc}"
    if rows != [("ok",)]:
        return "PRAGMA quick_check: " + "; ".join(str(r[0]) for r in rows[:5])
    return None


def check_store(data_dir: Path) -> list[Damage]:
    """The damaged shard files of an initialized data directory (none for a fresh one)."""
    layout = data_dir / LAYOUT_FILE
    if not layout.exists():
        return []
    shards = int(json.loads(layout.read_text())["shards"])
    found = ((name, check_file(data_dir / name)) for name in shard_files(shards))
    return [Damage(name, reason) for name, reason in found if reason is not None]


def has_raft_state(raft_dir: Path) -> bool:
    return raft_dir.is_dir() and any(raft_dir.iterdir())


def recover(data_dir: Path, raft_dir: Path) -> list[Damage]:
    """Check the shard files; when any is damaged, move every shard file aside so the Raft
    snapshot and log rebuild them, or raise DamagedStore when there is no Raft state."""
    damage = check_store(data_dir)
    if not damage:
        return []
    what = ", ".join(f"{d.file} ({d.reason})" for d in damage)
    if not has_raft_state(raft_dir):
        raise DamagedStore(
            f"metadata shard files in {data_dir} are damaged: {what}; there is no Raft state in "
            f"{raft_dir} to rebuild them from, so this replica will not serve. To recover, move "
            f"{data_dir} aside and start the replica again: with an empty data directory it "
            "rejoins its group and the leader sends it the log or a snapshot (a one-replica "
            "group starts empty: restore its data directory from a backup instead)."
        )
    aside = data_dir / f"damaged-{time.time_ns() // 1_000_000}"
    aside.mkdir()
    shards = int(json.loads((data_dir / LAYOUT_FILE).read_text())["shards"])
    for name in shard_files(shards):
        for suffix in ("", "-wal", "-shm"):
            path = data_dir / (name + suffix)
            if path.exists():
                path.rename(aside / path.name)
    log.error(
        "metadata shard files are damaged: %s; moved every shard file to %s and rebuilding "
        "them from this replica's Raft snapshot and log",
        what,
        aside,
    )
    return damage
