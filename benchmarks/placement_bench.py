#!/usr/bin/env python3
"""PG assignment figures: balance against capacity share, movement on leave/join, and build time.

Run: `.venv/bin/python benchmarks/placement_bench.py [--pgs 1024]`. Pure computation, no cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter

from cairn.placement.cluster_map import NodeInfo, NodeState
from cairn.placement.pg_assignment import Table, create_table, rebalance

K, M = 8, 4
TB = 10**12


def topology(n: int, zones: int, racks: int, caps: list[int] | None = None) -> dict[str, NodeInfo]:
    nodes = {}
    for i in range(n):
        node_id = f"dn-{i + 1:04d}"
        z, r = i % zones, (i // zones) % racks
        nodes[node_id] = NodeInfo(
            node_id,
            f"10.0.0.{i}:7000",
            f"z{z}",
            f"z{z}-r{r}",
            f"h{i}",
            NodeState.UP,
            caps[i] if caps else 4 * TB,
            0,
            0,
        )
    return nodes


def moved(before: Table, after: Table) -> list[tuple[str, str]]:
    return [
        (a, b) for ra, rb in zip(before, after, strict=True) for a, b in zip(ra, rb, strict=True) if a != b
    ]


def report(name: str, nodes: dict[str, NodeInfo], pgs: int) -> None:
    started = time.perf_counter()
    table = create_table(pgs, K, M, nodes)
    build_s = time.perf_counter() - started
    slots = pgs * (K + M)
    counts = Counter(n for row in table for n in row)
    total = sum(n.capacity_bytes for n in nodes.values())
    devs = [counts[i] / slots / (n.capacity_bytes / total) - 1 for i, n in nodes.items()]
    leaving = sorted(nodes)[len(nodes) // 2]
    out = rebalance(table, K, M, {**nodes, leaving: dataclasses.replace(nodes[leaving], state=NodeState.OUT)})
    left = moved(table, out)
    foreign = sum(1 for a, _ in left if a != leaving)
    new = NodeInfo("dn-9999", "10.0.9.9:7000", "z0", "z0-r0", "h-new", NodeState.UP, 4 * TB, 0, 0)
    started = time.perf_counter()
    joined = rebalance(table, K, M, {**nodes, new.id: new}, joined=[new.id])
    join_s = time.perf_counter() - started
    came = moved(table, joined)
    n = len(nodes)
    print(
        f"{name}: build {build_s:.2f}s, balance worst {max(map(abs, devs)):.1%} "
        f"(min {min(devs):+.1%} max {max(devs):+.1%}); "
        f"leave moved {len(left) / slots:.2%} (its share {counts[leaving] / slots:.2%}, ideal 1/n {1 / n:.2%}, "
        f"other slots moved {foreign}); join moved {len(came) / slots:.2%} (ideal 1/(n+1) {1 / (n + 1):.2%}, "
        f"{len(came) / slots * (n + 1):.2f}x, rebalance {join_s:.2f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pgs", type=int, default=1024)
    pgs = parser.parse_args().pgs
    report("16 nodes, 4 zones x 2 racks", topology(16, 4, 2), pgs)
    report("20 nodes, 4 zones x 5 racks", topology(20, 4, 5), pgs)
    report("24 nodes, 3 zones x 4 racks", topology(24, 3, 4), pgs)
    report(
        "24 nodes, own racks, 4/5/6 TB", topology(24, 3, 8, [(4 + (i // 3) % 3) * TB for i in range(24)]), pgs
    )
    report(
        "24 nodes, own racks, 1/2/3 TB", topology(24, 3, 8, [(1 + (i // 3) % 3) * TB for i in range(24)]), pgs
    )
    report("12 nodes, 12 zones (local cluster)", topology(12, 12, 1), pgs)


if __name__ == "__main__":
    main()
