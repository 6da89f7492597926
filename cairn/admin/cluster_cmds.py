"""Cluster-map commands: `cluster status|create`, `nodes`, `pgs`, `node drain|out|in|remove ID`.

Status asks every replica for its Raft status in parallel and reads the map from any replica; the
leader is the replica that reports itself leader with the highest term. Map reads work without a
leader (they show the last map a replica has); changes need the leader and a quorum. Status also
shows the metadata Raft group (`--metadata`, else cluster.json's metadata processes): each
replica's role, term, commit and applied index, and its lag (the leader's commit index minus
the replica's applied index).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from functools import partial
from typing import Any

from cairn.admin.cli import EXIT_UNAVAILABLE, run
from cairn.admin.output import age, emit_json, error, table, usage
from cairn.admin.target import TargetError
from cairn.placement.client import ClusterMap, PlacementClient
from cairn.placement.cluster_map import NodeAction, NodeState, ReplicaState
from cairn.placement.pg_assignment import count_domains


def register(groups: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    cluster = groups.add_parser("cluster", help="cluster-wide status and setup")
    sub = cluster.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "status", parents=[common], help="leader, term, epoch, replicas, nodes, PG fault tolerance"
    )
    p.add_argument(
        "--metadata", metavar="HOST:PORT[,...]", help="metadata replicas (default: from cluster.json)"
    )
    p.set_defaults(func=partial(run, command=cluster_status))
    p = sub.add_parser("create", parents=[common], help="create the placement-group table now")
    p.set_defaults(func=partial(run, command=cluster_create))

    p = groups.add_parser("nodes", parents=[common], help="data nodes by failure domain")
    p.set_defaults(func=partial(run, command=list_nodes))
    p = groups.add_parser("pgs", parents=[common], help="PG slots per node and degraded PGs")
    p.set_defaults(func=partial(run, command=list_pgs))

    node = groups.add_parser("node", help="change one node's state")
    actions = node.add_subparsers(dest="node_action", metavar="ACTION", required=True)
    helps = {
        NodeAction.DRAIN: "move its PG slots to other nodes; it keeps serving their data until repair has moved it",
        NodeAction.OUT: "give up all PG slots and stop being read (data is rebuilt elsewhere)",
        NodeAction.IN: "take PG slots again",
        NodeAction.REMOVE: "forget the node (its id is never reused); refused while it still holds slot data",
    }
    for action, text in helps.items():
        p = actions.add_parser(action.value, parents=[common], help=text)
        p.add_argument("node_id", metavar="ID")
        if action is NodeAction.REMOVE:
            p.add_argument(
                "--force",
                action="store_true",
                help="remove it even while it holds slot data (those slots are then rebuilt from the others)",
            )
        p.set_defaults(func=partial(run, command=partial(node_command, action=action)))


def find_leader(states: list[ReplicaState]) -> ReplicaState | None:
    leaders = [s for s in states if s.reachable and s.role == "leader"]
    return max(leaders, key=lambda s: s.term) if leaders else None


def pg_summary(cmap: ClusterMap) -> dict[str, Any]:
    tolerated = [cmap.failures_tolerated(pg) for pg in range(len(cmap.pgs))]
    histogram = Counter(tolerated)
    hosts = [cmap.host_failures_tolerated(pg) for pg in range(len(cmap.pgs))]
    return {
        "count": len(cmap.pgs),
        "min_failures_tolerated": min(tolerated) if tolerated else None,
        "min_host_failures_tolerated": min(hosts) if hosts else None,
        "failures_tolerated_histogram": {str(k): histogram[k] for k in sorted(histogram, reverse=True)},
        "degraded": len(cmap.degraded_pgs()),
        "migrating": sum(1 for pg in range(len(cmap.pgs)) if cmap.pending_slots(pg)),
        "slots_migrating": sum(len(cmap.pending_slots(pg)) for pg in range(len(cmap.pgs))),
    }


async def cluster_status(args: argparse.Namespace, addrs: list[str]) -> int:
    client = PlacementClient(addrs)
    try:
        states = await client.replica_states(timeout=min(args.timeout, 3.0))
        if not any(s.reachable for s in states):
            error(f"placement service unreachable: {', '.join(f'{s.addr} {s.error}' for s in states)}")
            return EXIT_UNAVAILABLE
    finally:
        await client.close()
    leader = find_leader(states)
    first = [leader.addr] if leader else []
    client = PlacementClient(first + [a for a in addrs if a not in first])
    try:
        cmap = await client.cluster_map()
    finally:
        await client.close()
    ids = {p.addr: p.id for s in states for p in s.peers}
    # the leader's view of each peer: reachable over the Raft transport, and how far it replicated
    seen = {p.addr: (p.reachable, p.match_index) for p in (leader.peers if leader else ())}
    counts = Counter(n.state for n in cmap.nodes.values())
    doc = {
        "leader": leader.id if leader else None,
        "leader_addr": leader.addr if leader else None,
        "term": leader.term if leader else max(s.term for s in states),
        "epoch": cmap.epoch,
        "map_created": cmap.created,
        "k": cmap.k,
        "m": cmap.m,
        "pg_count": cmap.pg_count,
        "replicas": [
            {
                "id": s.id or ids.get(s.addr, ""),
                "addr": s.addr,
                "reachable": s.reachable,
                "role": s.role,
                "term": s.term,
                "commit_index": s.commit_index,
                "applied_index": s.applied_index,
                "epoch": s.epoch,
                "error": s.error,
                "leader_sees_reachable": seen[s.addr][0] if s.addr in seen else None,
                "match_index": seen[s.addr][1] if s.addr in seen else None,
            }
            for s in states
        ],
        "nodes": {"total": len(cmap.nodes), **{state.value: counts[state] for state in NodeState}},
        "pgs": pg_summary(cmap) if cmap.created else None,
        "failure_domains_up": count_domains(cmap.nodes),
        "failure_domains_needed": cmap.k + cmap.m if cmap.created else max(s.config_width for s in states),
        "metadata": await metadata_group(args),
    }
    if args.json:
        emit_json(doc)
    else:
        print_status(doc)
    if leader is None:
        reachable = sum(1 for s in states if s.reachable)
        error(
            f"placement service has no leader ({reachable} of {len(states)} replicas reachable); "
            "map changes are refused until a majority is back"
        )
        return EXIT_UNAVAILABLE
    return 0


async def metadata_group(args: argparse.Namespace) -> dict[str, Any] | None:
    """Every metadata replica's Raft view, or None when no metadata replica is known."""
    from cairn.admin.iam_cmds import metadata_addr
    from cairn.metadata.client import MetadataClient, MetadataError

    try:
        addrs = metadata_addr(getattr(args, "metadata", None), args.data_dir).split(",")
    except TargetError:
        return None

    async def one(addr: str) -> dict[str, Any]:
        client = MetadataClient(addr, deadline_s=min(args.timeout, 3.0))
        try:
            s = await client.replica_status()
        except MetadataError as exc:
            return {"addr": addr, "reachable": False, "id": None, "error": exc.message.splitlines()[0][:120]}
        finally:
            await client.close()
        return {
            "addr": addr,
            "reachable": True,
            "id": s.id,
            "role": s.role,
            "term": s.term,
            "commit_index": s.commit_index,
            "applied_index": s.applied_index,
        }

    replicas = await asyncio.gather(*(one(a) for a in addrs))
    leaders = [r for r in replicas if r.get("role") == "leader"]
    leader = max(leaders, key=lambda r: r["term"]) if leaders else None
    for r in replicas:
        r["lag"] = leader["commit_index"] - r["applied_index"] if leader and r["reachable"] else None
    return {
        "leader": leader["id"] if leader else None,
        "leader_addr": leader["addr"] if leader else None,
        "term": leader["term"] if leader else max((r.get("term", 0) for r in replicas), default=0),
        "replicas": replicas,
    }


def print_metadata(group: dict[str, Any]) -> None:
    leader = f"{group['leader']} ({group['leader_addr']})" if group["leader"] else "NONE (no quorum)"
    print(f"metadata:  leader {leader}, term {group['term']}")
    rows = [
        (
            r["id"] or "?",
            r["addr"],
            r.get("role", "-"),
            r.get("term", "-"),
            r.get("commit_index", "-"),
            r.get("applied_index", "-"),
            "-" if r["lag"] is None else r["lag"],
            "ok" if r["reachable"] else r["error"],
        )
        for r in group["replicas"]
    ]
    print(table(("ID", "ADDRESS", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "HEALTH"), rows, indent="  "))


def print_status(doc: dict[str, Any]) -> None:
    leader = (
        f"{doc['leader']} ({doc['leader_addr']})" if doc["leader"] else "NONE (no quorum or election running)"
    )
    print(f"leader:    {leader}")
    print(f"term:      {doc['term']}")
    layout = f"{doc['pg_count']} PGs, k={doc['k']} m={doc['m']}" if doc["map_created"] else "not created yet"
    print(f"epoch:     {doc['epoch']}  ({layout})")
    print("replicas:")
    rows = [
        (
            r["id"] or "?",
            r["addr"],
            r["role"] or "-",
            r["term"] if r["reachable"] else "-",
            r["commit_index"] if r["reachable"] else "-",
            r["applied_index"] if r["reachable"] else "-",
            "-" if r["match_index"] is None else r["match_index"],
            _health(r),
        )
        for r in doc["replicas"]
    ]
    print(table(("ID", "ADDRESS", "ROLE", "TERM", "COMMIT", "APPLIED", "MATCH", "HEALTH"), rows, indent="  "))
    if doc.get("metadata"):
        print_metadata(doc["metadata"])
    nodes = doc["nodes"]
    print(
        f"nodes:     {nodes['total']} total: " + ", ".join(f"{s.value} {nodes[s.value]}" for s in NodeState)
    )
    pgs = doc["pgs"]
    if pgs is None:
        print(
            f"pgs:       none yet: {doc['failure_domains_up']} failure domain(s) (distinct hosts) up, "
            f"{doc['failure_domains_needed']} needed to create the map"
        )
        return
    print(
        f"pgs:       {pgs['count']}; every PG can absorb at least {pgs['min_failures_tolerated']} more node "
        f"failure(s); {pgs['degraded']} degraded; {pgs['migrating']} with {pgs['slots_migrating']} slot(s) "
        "moving (counted on their verified holders until repair syncs them)"
    )
    if pgs["min_host_failures_tolerated"] != pgs["min_failures_tolerated"]:
        print(
            f"           some hosts hold several shards of a PG: every PG survives at least "
            f"{pgs['min_host_failures_tolerated']} whole-host failure(s)"
        )
    hist = ", ".join(f"{k}: {v} PGs" for k, v in pgs["failures_tolerated_histogram"].items())
    print(f"           more failures absorbable -> {hist}")


def _health(replica: dict[str, Any]) -> str:
    if not replica["reachable"]:
        return str(replica["error"])
    if replica["leader_sees_reachable"] is False:
        return "answers, but the leader cannot reach it"
    return "ok"


async def cluster_create(args: argparse.Namespace, addrs: list[str]) -> int:
    client = PlacementClient(addrs)
    try:
        epoch = await client.create_cluster(timeout=args.timeout)
        cmap = await client.cluster_map(min_epoch=epoch)
    finally:
        await client.close()
    if args.json:
        emit_json({"epoch": epoch, "pg_count": cmap.pg_count, "k": cmap.k, "m": cmap.m})
    else:
        print(f"cluster map created: {cmap.pg_count} PGs, k={cmap.k} m={cmap.m} (epoch {epoch})")
    return 0


async def read_map(args: argparse.Namespace, addrs: list[str]) -> ClusterMap:
    """The map from the leader if there is one (freshest, with live heartbeat times), else any replica."""
    client = PlacementClient(addrs)
    try:
        leader = find_leader(await client.replica_states(timeout=min(args.timeout, 2.0)))
    finally:
        await client.close()
    first = [leader.addr] if leader else []
    client = PlacementClient(first + [a for a in addrs if a not in first])
    try:
        return await client.cluster_map()
    finally:
        await client.close()


async def list_nodes(args: argparse.Namespace, addrs: list[str]) -> int:
    cmap = await read_map(args, addrs)
    slots = cmap.slots_per_node()
    nodes = sorted(cmap.nodes.values(), key=lambda n: (n.zone, n.rack, n.host, n.id))
    if args.json:
        emit_json(
            {
                "epoch": cmap.epoch,
                "nodes": [
                    {
                        "id": n.id,
                        "addr": n.addr,
                        "zone": n.zone,
                        "rack": n.rack,
                        "host": n.host,
                        "state": n.state.value,
                        "full": n.full,
                        "capacity_bytes": n.capacity_bytes,
                        "used_bytes": n.used_bytes,
                        "last_heartbeat_ms": n.last_heartbeat_ms,
                        "pg_slots": slots.get(n.id, 0),
                    }
                    for n in nodes
                ],
            }
        )
        return 0
    now_ms = int(time.time() * 1000)
    print(f"epoch {cmap.epoch}: {len(nodes)} node(s)\n")
    rows: list[tuple[object, ...]] = []
    previous: tuple[str, str] | None = None
    for n in nodes:
        domain = (n.zone or "-", n.rack or "-")
        if previous is not None and domain != previous:
            rows.append(("",) * 9)  # a blank line between failure domains
        shown = domain if domain != previous else ("", "")
        previous = domain
        rows.append(
            (
                *shown,
                n.host,
                n.id,
                n.addr,
                f"{n.state.value}, full" if n.full else n.state.value,
                usage(n.used_bytes, n.capacity_bytes),
                slots.get(n.id, 0),
                age(n.last_heartbeat_ms, now_ms),
            )
        )
    print(
        table(
            (
                "ZONE",
                "RACK",
                "HOST",
                "ID",
                "ADDRESS",
                "STATE",
                "USED / CAPACITY",
                "PG SLOTS",
                "LAST HEARTBEAT",
            ),
            rows,
        )
    )
    return 0


async def list_pgs(args: argparse.Namespace, addrs: list[str]) -> int:
    cmap = await read_map(args, addrs)
    if not cmap.created:
        print("the cluster map has no placement groups yet", file=sys.stderr if args.json else sys.stdout)
        if args.json:
            emit_json({"epoch": cmap.epoch, "pg_count": 0, "per_node": {}, "degraded": []})
        return 0
    slots = cmap.slots_per_node()
    total = sum(slots.values()) or 1
    degraded: list[dict[str, Any]] = []
    for pg in cmap.degraded_pgs():
        missing = [slot for slot in range(len(cmap.pgs[pg])) if not cmap.slot_healthy(pg, slot)]
        degraded.append(
            {
                "pg": pg,
                "failures_tolerated": cmap.failures_tolerated(pg),
                "unavailable_slots": missing,
                "migrating_slots": cmap.pending_slots(pg),
                "nodes": list(cmap.pgs[pg]),
            }
        )
    if args.json:
        emit_json(
            {
                "epoch": cmap.epoch,
                "pg_count": cmap.pg_count,
                "k": cmap.k,
                "m": cmap.m,
                "per_node": dict(sorted(slots.items())),
                "degraded": degraded,
                "migrating": {
                    str(pg): cmap.pending_slots(pg) for pg in range(len(cmap.pgs)) if cmap.pending_slots(pg)
                },
            }
        )
        return 0
    print(f"epoch {cmap.epoch}: {cmap.pg_count} PGs x {cmap.k + cmap.m} slots (k={cmap.k} m={cmap.m})\n")
    rows = [
        (node_id, cmap.nodes[node_id].state.value, count, f"{100 * count / total:.1f}%")
        for node_id, count in sorted(slots.items())
    ]
    print(table(("NODE", "STATE", "PG SLOTS", "SHARE"), rows))
    print(f"\ndegraded PGs: {len(degraded)}")
    if degraded:
        shown = degraded[:50]
        print(
            table(
                ("PG", "FAILURES ABSORBABLE", "UNAVAILABLE SLOTS"),
                [
                    (d["pg"], d["failures_tolerated"], ",".join(map(str, d["unavailable_slots"])))
                    for d in shown
                ],
                indent="  ",
            )
        )
        if len(degraded) > len(shown):
            print(f"  ... and {len(degraded) - len(shown)} more (use --json for all)")
    return 0


async def node_command(args: argparse.Namespace, addrs: list[str], action: NodeAction) -> int:
    client = PlacementClient(addrs)
    try:
        force = bool(getattr(args, "force", False))
        epoch = await client.node_command(args.node_id, action, timeout=args.timeout, force=force)
        cmap = await client.cluster_map(min_epoch=epoch)
    finally:
        await client.close()
    node = cmap.nodes.get(args.node_id)
    state = node.state.value if node else "removed"
    held = cmap.slots_held(args.node_id) if node else 0
    if args.json:
        emit_json(
            {"node": args.node_id, "action": action.value, "state": state, "epoch": epoch, "slots_held": held}
        )
    else:
        note = (
            f"; still holds the data of {held} PG slot(s) until repair moves it"
            if held
            and action
            in (
                NodeAction.DRAIN,
                NodeAction.OUT,
            )
            else ""
        )
        print(f"node {args.node_id}: {state} (epoch {epoch}){note}")
    return 0
