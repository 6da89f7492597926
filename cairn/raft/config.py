"""Configuration of the Raft runtime: one frozen dataclass, every default written once, here.

Services nest `RaftConfig` in their own config tree (e.g. `[raft]` in placement's TOML, or
`CAIRN_PLACEMENT_RAFT_TICK_S`), loaded with `cairn.config.load`. Time is counted in ticks of
`tick_s`; the election timeout is drawn per replica from [election_ticks, 2 * election_ticks).
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.raft.core import CoreConfig


@dataclass(frozen=True, slots=True)
class RaftConfig:
    tick_s: float = 0.1
    """Length of one logical clock tick in seconds."""
    election_ticks: int = 10
    """Minimum election timeout in ticks (the actual one is randomized up to twice this)."""
    heartbeat_ticks: int = 1
    """Leader heartbeat interval in ticks."""
    snapshot_threshold: int = 2000
    """Take a snapshot and compact the log once this many entries were applied since the last
    (and, with `snapshot_log_ratio`, once the log since then is large enough)."""
    snapshot_log_ratio: float = 1.0
    """A snapshot copies the whole state, so it also waits until the entries applied since the
    last one hold this many times that snapshot's bytes: the copying then costs at most 1 /
    ratio bytes per byte of log, however large the state grows (0: the entry count alone)."""
    snapshot_max_log_bytes: int = 64 << 20
    """...or until they hold this many bytes, which bounds the log a replica keeps (in memory
    and on disk) and replays, whatever the ratio asks."""
    max_inflight: int = 64
    """Appends in flight per follower while replicating."""
    max_batch_entries: int = 256
    """Most entries in one append message."""
    max_batch_bytes: int = 4 << 20
    """Most entry bytes in one append message (at least one entry is always sent)."""
    rpc_timeout_s: float = 2.0
    """Deadline of one peer RPC carrying a batch of messages."""
    snapshot_timeout_s: float = 60.0
    """Deadline of one snapshot transfer."""
    snapshot_chunk_bytes: int = 1 << 20
    """Size of the chunks a snapshot is streamed in."""
    max_queued_messages: int = 4096
    """Messages queued for one unreachable peer before older ones are dropped (Raft retries)."""
    pre_vote: bool = True
    """Run a pre-vote before a real election so a partitioned replica cannot disrupt the group."""
    check_quorum: bool = True
    """A leader steps down without a quorum; followers stick to a live leader (required for reads)."""
    lease_reads: bool = False
    """Serve linearizable reads without a heartbeat round while a quorum's lease holds (needs
    check_quorum; the bound is in cairn/raft/README.md, *The read rule*)."""
    seed: int | None = None
    """Seed of the election-timeout randomness (None: from the OS)."""

    def __post_init__(self) -> None:
        if self.tick_s <= 0 or self.rpc_timeout_s <= 0 or self.snapshot_timeout_s <= 0:
            raise ValueError("tick_s and timeouts must be positive")
        if self.snapshot_log_ratio < 0 or self.snapshot_max_log_bytes < 1:
            raise ValueError("snapshot_log_ratio must be >= 0 and snapshot_max_log_bytes positive")
        if self.snapshot_threshold < 1 or self.snapshot_chunk_bytes < 1 or self.max_queued_messages < 1:
            raise ValueError(
                "snapshot_threshold, snapshot_chunk_bytes and max_queued_messages must be positive"
            )
        if not 0 < self.max_batch_bytes <= 16 << 20:
            raise ValueError("max_batch_bytes must be in (0, 16 MiB] so one append fits a gRPC message")
        self.core()  # validates the tick ratios and batch sizes

    def core(self) -> CoreConfig:
        return CoreConfig(
            election_tick=self.election_ticks,
            heartbeat_tick=self.heartbeat_ticks,
            max_inflight=self.max_inflight,
            max_batch_entries=self.max_batch_entries,
            max_batch_bytes=self.max_batch_bytes,
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
            lease_reads=self.lease_reads,
        )
