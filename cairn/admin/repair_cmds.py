"""Repair commands: `repair status [--watch S]`, `repair pause`, `repair resume`.

`status` reads the repair work from placement (ListRepairWork: PGs with a pending slot move or a
slot whose shards are on a node that is not serving, by the failures each still tolerates; the
pause flag; the repair lease) and, from the background service (`--gc`, else cluster.json), the
repair worker's state: its running pass (PGs visited, shards and bytes found missing and done,
MB/s), its last pass, and how many shards wait in the repair queue (reported by PUTs, readers
and scrub; taken first by the next pass). The ETA extrapolates the bytes found missing in the PGs visited so far
to every PG of the pass, at the pass's rate so far: an estimate. A PG the map does not list can
still lack shards (a wiped disk that came back under its old id): the worker's pass over every
PG finds those, and they show up in the pass figures only. `--watch S` prints the status again
every S seconds until the work is done (Ctrl-C to stop). `pause` / `resume` set the replicated
pause flag the repair worker reads before each PG.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from functools import partial
from typing import Any

from cairn.admin.cli import run
from cairn.admin.gc_cmds import gc_addr, result_doc
from cairn.admin.output import emit_json, size, table
from cairn.admin.target import TargetError
from cairn.gc.client import GcClient
from cairn.gc.errors import GcError
from cairn.placement.client import PlacementClient
from cairn.placement.cluster_map import RepairWork


def register(groups: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    repair = groups.add_parser("repair", help="rebuilding and moving shards to their PG slots")
    sub = repair.add_subparsers(dest="repair_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "status",
        parents=[common],
        help="PGs needing repair by remaining redundancy, the repair pass's progress, MB/s and ETA",
    )
    p.add_argument("--gc", metavar="HOST:PORT", help="the background service (default: from cluster.json)")
    p.add_argument(
        "--watch", type=float, metavar="S", help="print the status every S seconds until nothing is left"
    )
    p.set_defaults(func=partial(run, command=repair_status))
    p = sub.add_parser("pause", parents=[common], help="stop repair before its next PG (replicated flag)")
    p.set_defaults(func=partial(run, command=partial(set_paused, paused=True)))
    p = sub.add_parser("resume", parents=[common], help="let repair run again")
    p.set_defaults(func=partial(run, command=partial(set_paused, paused=False)))


async def set_paused(args: argparse.Namespace, addrs: list[str], paused: bool) -> int:
    client = PlacementClient(addrs)
    try:
        await client.set_repair_paused(paused, timeout=args.timeout)
    finally:
        await client.close()
    if args.json:
        emit_json({"paused": paused})
    else:
        print("repair paused" if paused else "repair resumed")
    return 0


def work_doc(work: RepairWork, now_ms: int) -> dict[str, Any]:
    by_tolerance: dict[str, int] = {}
    for pg in work.pgs:
        key = str(pg.failures_tolerated)
        by_tolerance[key] = by_tolerance.get(key, 0) + 1
    lease = None
    if work.lease.holder and work.lease.expires_ms > now_ms:
        lease = {
            "holder": work.lease.holder,
            "expires_in_s": round((work.lease.expires_ms - now_ms) / 1000, 1),
        }
    return {
        "epoch": work.epoch,
        "paused": work.paused,
        "lease": lease,
        "pgs_needing_repair": len(work.pgs),
        "slots_to_repair": sum(len(p.slots) for p in work.pgs),
        "pgs_by_failures_tolerated": dict(sorted(by_tolerance.items(), key=lambda kv: int(kv[0]))),
        "pgs": [
            {
                "pg": p.pg,
                "failures_tolerated": p.failures_tolerated,
                "healthy_slots": p.healthy_slots,
                "slots": [
                    {
                        "slot": s.slot,
                        "target": s.target,
                        "holders": list(s.holders),
                        "since_epoch": s.since_epoch,
                    }
                    for s in p.slots
                ],
            }
            for p in work.pgs
        ],
    }


def pass_doc(backlog: dict[str, int]) -> dict[str, Any] | None:
    """The running pass's figures from the worker's backlog, with MB/s and the ETA estimate."""
    if "pass_pgs_total" not in backlog:
        return None
    elapsed_s = backlog["pass_elapsed_ms"] / 1000
    done, found = backlog["pass_bytes_done"], backlog["pass_bytes_found"]
    pgs_done, pgs_total = backlog["pass_pgs_done"], backlog["pass_pgs_total"]
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    estimate = found * pgs_total / pgs_done if pgs_done else found
    eta = (max(estimate, found) - done) / rate if rate > 0 else None
    return {
        "pgs_done": pgs_done,
        "pgs_total": pgs_total,
        "shards_found": backlog["pass_shards_found"],
        "shards_done": backlog["pass_shards_done"],
        "bytes_found": found,
        "bytes_done": done,
        "bytes_to_go": max(0, found - done),
        "elapsed_s": round(elapsed_s, 1),
        "mb_per_s": round(rate / (1 << 20), 2),
        "eta_s": round(eta, 1) if eta is not None else None,
    }


async def service_doc(args: argparse.Namespace) -> dict[str, Any]:
    try:
        addr = gc_addr(args.gc, args.data_dir)
    except TargetError as exc:
        return {"reachable": False, "error": str(exc)}
    client = GcClient(addr)
    try:
        statuses = await client.status(timeout=args.timeout)
    except GcError as exc:
        return {"reachable": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        await client.close()
    found = [s for s in statuses if s.name == "repair"]
    if not found:
        return {"reachable": True, "error": "the background service runs no repair worker"}
    status = found[0]
    return {
        "reachable": True,
        "addr": addr,
        "running": status.running,
        "interval_s": status.interval_s,
        "passes": status.passes,
        "totals": status.totals,
        "last": result_doc(status.last) if status.last else None,
        "pass": pass_doc(status.backlog) if status.running else None,
        "reports_queued": status.backlog.get("reports_queued"),
    }


async def repair_status(args: argparse.Namespace, addrs: list[str]) -> int:
    while True:
        client = PlacementClient(addrs)
        try:
            work = await client.repair_work(timeout=args.timeout)
        finally:
            await client.close()
        doc = {**work_doc(work, int(time.time() * 1000)), "service": await service_doc(args)}
        if args.json:
            emit_json(doc)
        else:
            print_repair_status(doc)
        running = bool(doc["service"].get("running"))
        if not args.watch or (not doc["pgs_needing_repair"] and not running):
            return 0
        await asyncio.sleep(args.watch)
        if not args.json:
            print()


def print_repair_status(doc: dict[str, Any]) -> None:
    lease = doc["lease"]
    holder = f"{lease['holder']} (expires in {lease['expires_in_s']:g}s)" if lease else "nobody"
    print(f"repair: {'PAUSED' if doc['paused'] else 'active'}; lease: {holder}; map epoch {doc['epoch']}")
    if doc["pgs_needing_repair"]:
        rows = [[k, v] for k, v in doc["pgs_by_failures_tolerated"].items()]
        print(
            f"{doc['pgs_needing_repair']} PG(s) need repair ({doc['slots_to_repair']} slot(s)); "
            "by failures they still tolerate:"
        )
        print(table(["FAILURES TOLERATED", "PGS"], rows, indent="  "))
    else:
        print("no PG listed by the map as needing repair")
    service = doc["service"]
    if not service.get("reachable") or "error" in service:
        print(f"background service: {service.get('error', 'unreachable')}")
        return
    if service.get("reports_queued") is not None:
        print(f"repair queue: {service['reports_queued']} shard(s) reported missing or corrupt")
    current = service.get("pass")
    if current:
        eta = f"{current['eta_s']:g}s (estimate)" if current["eta_s"] is not None else "-"
        print(
            f"pass running: PG {current['pgs_done']}/{current['pgs_total']}, "
            f"shards {current['shards_done']}/{current['shards_found']} found so far, "
            f"{size(current['bytes_done'])} done, {size(current['bytes_to_go'])} to go, "
            f"{current['mb_per_s']:g} MiB/s, ETA {eta}"
        )
    else:
        print(f"no pass running (a pass every {service['interval_s']:g}s; {service['passes']} so far)")
    last = service.get("last")
    if last:
        counters = ", ".join(f"{k}={v}" for k, v in sorted(last["counters"].items())) or "nothing to do"
        print(
            f"last pass: {last['duration_s']:g}s: {counters}"
            + (f" (error: {last['error']})" if last["error"] else "")
        )
