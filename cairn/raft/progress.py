"""The leader's view of one follower's log: how far it matches and how to send it more.

States (as in etcd's raft):

- PROBE: we do not know where the follower's log ends; send one append at a time (`probe_sent`
  pauses until a response or a heartbeat response) and walk `next` back on rejects;
- REPLICATE: the follower is known to match up to `match`; send optimistically (advance `next`
  past what was sent) with up to `max_inflight` appends in flight, tracked by their last index;
- SNAPSHOT: the entries the follower needs are compacted away; a snapshot is in flight and
  nothing else is sent until it is acknowledged, or `snapshot_ticks` run out (it was lost).

Invariant: `match < next`.
"""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    __slots__ = (
        "match",
        "next",
        "state",
        "probe_sent",
        "pending_snapshot",
        "snapshot_ticks",
        "inflights",
        "recent_active",
        "lease_stamp",
    )

    def __init__(self, next_index: int, match: int = 0) -> None:
        self.match = match
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.inflights: deque[int] = deque()
        self.recent_active = False
        self.lease_stamp = 0  # the newest heartbeat stamp the follower echoed (lease reads)

    def _reset(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.inflights.clear()

    def become_probe(self) -> None:
        self._reset(ProgressState.PROBE)
        self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, index: int) -> None:
        self._reset(ProgressState.SNAPSHOT)
        self.pending_snapshot = index

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged entries up to `index`; False if that is old news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected an append after `rejected`; False if the reject is stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self, max_inflight: int) -> bool:
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return len(self.inflights) >= max_inflight
        return True

    def sent_entries(self, last: int | None) -> None:
        """An append was sent whose last entry is `last` (None: no entries)."""
        if self.state is ProgressState.REPLICATE:
            if last is not None:
                self.next = last + 1
                self.inflights.append(last)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def free_inflights_to(self, index: int) -> None:
        while self.inflights and self.inflights[0] <= index:
            self.inflights.popleft()
