"""Process-wide memory of slow or unreachable data nodes, and of how fast pieces usually arrive.

`NodeHealth` is owned by the `DataNodePool`, so every read in the process shares it. A node whose
piece timed out, whose connection failed, that was unavailable, or that lost a hedge race after
the hedge delay is *suspect* for a cool-down that starts at `base_cooldown_s` and doubles with
every further failure up to `max_cooldown_s`; any piece it delivers resets it. Readers plan
suspect nodes as if their slot were empty, as long as k other pieces are available.

There is no background probe: once a cool-down has expired, the first read that asks
`available(addr)` gets the node (it *claims the probe*) and every other read keeps avoiding it
for another `base_cooldown_s`; the probe's success clears the suspicion, its failure doubles the
cool-down.

`NodeHealth` also keeps the last `latency_window` piece latencies (seconds a reader waited for a
piece) for the adaptive hedge delay (`hedge_delay`).

Invariants:
- Suspicion only reorders which pieces a read asks for first; it never fails a read.
- Time comes only from the injected `clock` (monotonic seconds), so tests need no sleeps.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(slots=True)
class _NodeState:
    strikes: int = 0
    """Failures since the last success; the cool-down is base * 2 ** (strikes - 1), capped."""
    until: float = 0.0
    """Monotonic time until which the node is avoided (cool-down or a claimed probe)."""


class NodeHealth:
    """Suspect nodes with growing cool-downs, plus recent piece latencies. Not thread-safe: use it
    from the event loop only."""

    def __init__(
        self,
        clock: Clock = time.monotonic,
        base_cooldown_s: float = 2.0,
        max_cooldown_s: float = 30.0,
        latency_window: int = 512,
    ) -> None:
        if not 0 < base_cooldown_s <= max_cooldown_s:
            raise ValueError("need 0 < base_cooldown_s <= max_cooldown_s")
        if latency_window < 1:
            raise ValueError("latency_window must be >= 1")
        self._clock = clock
        self._base = base_cooldown_s
        self._max = max_cooldown_s
        self._nodes: dict[str, _NodeState] = {}
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._p95: float | None = None
        self._since_p95 = 0

    # --- suspicion -------------------------------------------------------------------------

    def suspect(self, addr: str) -> bool:
        """Whether `addr` is in a cool-down or someone else's probe (no side effect)."""
        state = self._nodes.get(addr)
        return state is not None and state.strikes > 0 and self._clock() < state.until

    def available(self, addr: str) -> bool:
        """Whether a read should plan `addr` like a healthy node. After a cool-down the first caller
        gets True and claims the probe: the node stays avoided by others for `base_cooldown_s`."""
        state = self._nodes.get(addr)
        if state is None or state.strikes == 0:
            return True
        now = self._clock()
        if now < state.until:
            return False
        state.until = now + self._base
        return True

    def cooldown(self, addr: str) -> float:
        """Seconds left before `addr` may be tried again (0 when it is not suspect)."""
        state = self._nodes.get(addr)
        if state is None or state.strikes == 0:
            return 0.0
        return max(0.0, state.until - self._clock())

    def record_failure(self, addr: str) -> None:
        """`addr` timed out, refused or was unavailable: avoid it for a growing cool-down."""
        state = self._nodes.setdefault(addr, _NodeState())
        state.strikes += 1
        wait = min(self._max, self._base * 2 ** min(state.strikes - 1, 32))
        state.until = max(state.until, self._clock() + wait)

    def record_success(self, addr: str) -> None:
        """`addr` delivered a piece: it is healthy again."""
        if addr in self._nodes:
            del self._nodes[addr]

    # --- latency ---------------------------------------------------------------------------

    def record_latency(self, seconds: float) -> None:
        """How long a reader waited for one piece that arrived."""
        self._latencies.append(seconds)
        self._since_p95 += 1

    def p95(self) -> float | None:
        """The 95th percentile of the recent piece latencies (None before any); recomputed every
        32 samples so that asking per stripe stays cheap."""
        if not self._latencies:
            return None
        if self._p95 is None or self._since_p95 >= 32:
            ordered = sorted(self._latencies)
            self._p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
            self._since_p95 = 0
        return self._p95

    def hedge_delay(self, floor_s: float, p95_factor: float, cap_s: float) -> float:
        """max(floor_s, p95_factor * p95), at most cap_s: how long to wait for a piece before
        asking another node for a replacement."""
        p95 = self.p95()
        delay = floor_s if p95 is None else max(floor_s, p95_factor * p95)
        return min(delay, cap_s)
