"""Data node upkeep: `scrub status|start|pause [NODE ...]` and `compact NODE`.

NODE is a data node's id as `cairn admin nodes` lists it (looked up in the cluster map of the
placement service found from --placement or cluster.json), or its gRPC address host:port
(used as it is, without asking the placement service). `scrub ...` without NODE acts on every
node in the map. The commands call the data nodes' own RPCs: ScrubStatus, ScrubStart,
ScrubPause, ListScrubFindings, CompactionStatus and Compact.

`compact NODE` starts a pass on the node (every sealed volume past the node's thresholds, or
the given ones, or `--volume N` whatever its dead fraction) and prints its progress until it
ends; if a pass is already running it follows that one. Leaving (Ctrl-C, `--no-wait`) does not
stop the pass. `--status` shows the node's compaction state and history without starting one.

Exit codes: 0 done; 1 a node refused (no such sealed volume, a pass already running for
`--volume`) or a compaction job did not end "done"; 2 no cluster found, unknown node or bad
usage; 3 the placement service or a data node did not answer (the nodes that answered are
still shown).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from cairn.admin.cli import EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from cairn.admin.output import age, emit_json, error, size, table
from cairn.admin.target import TargetError, placement_addrs, use_admin_identity
from cairn.datanode.client import DataNodeClient, DataNodeError, DataNodeUnavailable
from cairn.datanode.reports import (
    CompactionResult,
    CompactionStatus,
    CompactUpdate,
    Finding,
    PassProgress,
    Progress,
    ScrubStatus,
)

#: How long `compact` follows a pass at most (a pass over a full node can take hours).
FOLLOW_TIMEOUT_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # the node id, or its address when it was given as one
    addr: str

    @property
    def label(self) -> str:
        return self.name if self.name == self.addr else f"{self.name} ({self.addr})"


Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def register(groups: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    scrub = groups.add_parser("scrub", help="data nodes' background checksum verification")
    sub = scrub.add_subparsers(dest="scrub_command", metavar="SUBCOMMAND", required=True)
    nodes_help = "node ids or host:port addresses (default: every node in the cluster map)"
    p = sub.add_parser("status", parents=[common], help="pass progress, last scrub, findings per node")
    p.add_argument("nodes", metavar="NODE", nargs="*", help=nodes_help)
    p.add_argument("--volumes", action="store_true", help="also each volume's last scrub")
    p.add_argument("--findings", action="store_true", help="also list every finding (corrupt/missing shard)")
    p.set_defaults(func=partial(run, command=scrub_status))
    p = sub.add_parser("start", parents=[common], help="start a pass now (and lift a pause)")
    p.add_argument("nodes", metavar="NODE", nargs="*", help=nodes_help)
    p.set_defaults(func=partial(run, command=scrub_start))
    p = sub.add_parser("pause", parents=[common], help="hold passes until `scrub start` (survives restarts)")
    p.add_argument("nodes", metavar="NODE", nargs="*", help=nodes_help)
    p.set_defaults(func=partial(run, command=scrub_pause))

    p = groups.add_parser(
        "compact", parents=[common], help="compact a data node's sealed volumes now, showing progress"
    )
    p.add_argument("node", metavar="NODE", help="node id or host:port")
    p.add_argument("--volume", type=int, help="only this sealed volume, whatever its dead fraction")
    p.add_argument(
        "--dead-fraction", type=float, help="compact volumes this dead (default: the node's setting)"
    )
    p.add_argument(
        "--min-dead-bytes", type=int, help="... with at least this many dead bytes (default: the node's)"
    )
    p.add_argument("--no-wait", action="store_true", help="start the pass and return at once")
    p.add_argument("--status", action="store_true", help="show compaction status and history; start nothing")
    p.set_defaults(func=partial(run, command=compact))


def connect(addr: str) -> DataNodeClient:
    return DataNodeClient(addr)


def run(args: argparse.Namespace, command: Command) -> int:
    """Run `command(args)`, mapping failures to exit codes and one-line messages."""
    from cairn.placement.client import PlacementError, PlacementUnavailable

    try:
        use_admin_identity(args.data_dir)
        return asyncio.run(command(args))
    except TargetError as exc:
        error(str(exc))
        return EXIT_USAGE
    except (PlacementUnavailable, DataNodeUnavailable) as exc:
        error(f"unreachable: {exc}")
        return EXIT_UNAVAILABLE
    except PlacementError as exc:
        error(f"refused ({exc.reason}): {exc}")
        return EXIT_REFUSED
    except DataNodeError as exc:
        error(f"refused ({type(exc).__name__}): {exc}")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130


def is_addr(name: str) -> bool:
    host, sep, port = name.rpartition(":")
    return bool(sep and host and port.isdigit())


async def targets(args: argparse.Namespace, names: list[str]) -> list[Target]:
    """The data nodes `names` stand for (every node in the map when there are none)."""
    if names and all(is_addr(n) for n in names):
        return [Target(n, n) for n in names]
    from cairn.admin.cluster_cmds import read_map

    cmap = await read_map(args, placement_addrs(args.placement, args.data_dir))
    if not names:
        if not cmap.nodes:
            raise TargetError(f"the cluster map (epoch {cmap.epoch}) has no data nodes")
        return [Target(n.id, n.addr) for n in sorted(cmap.nodes.values(), key=lambda n: n.id)]
    by_addr = {n.addr: n for n in cmap.nodes.values()}
    found = []
    for name in names:
        node = cmap.nodes.get(name) or by_addr.get(name)
        if node is not None:
            found.append(Target(node.id, node.addr))
        elif is_addr(name):
            found.append(Target(name, name))
        else:
            raise TargetError(
                f"no data node {name!r} in the cluster map (epoch {cmap.epoch}); see `cairn admin nodes`"
            )
    return found


async def each_node(
    nodes: list[Target], call: Callable[[DataNodeClient], Awaitable[Any]]
) -> list[Any | DataNodeError]:
    """`call` on every node at once; a node's failure is its result."""

    async def one(target: Target) -> Any:
        client = connect(target.addr)
        try:
            return await call(client)
        except DataNodeError as exc:
            return exc
        finally:
            await client.close()

    return list(await asyncio.gather(*(one(t) for t in nodes)))


def failed_doc(target: Target, exc: DataNodeError) -> dict[str, Any]:
    state = "unreachable" if isinstance(exc, DataNodeUnavailable) else "error"
    return {"node": target.name, "addr": target.addr, "state": state, "error": str(exc)}


def failure_code(results: list[Any]) -> int:
    if any(isinstance(r, DataNodeUnavailable) for r in results):
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED if any(isinstance(r, DataNodeError) for r in results) else 0


def ms(seconds: float | None) -> int:
    return int(seconds * 1000) if seconds else 0


# -- scrub ------------------------------------------------------------------------------------


async def scrub_status(args: argparse.Namespace) -> int:
    nodes = await targets(args, args.nodes)

    async def call(client: DataNodeClient) -> tuple[ScrubStatus, list[Finding] | None]:
        status = await client.scrub_status(timeout=args.timeout)
        return status, (await all_findings(client, args.timeout) if args.findings else None)

    results = await each_node(nodes, call)
    docs = [
        failed_doc(t, r) if isinstance(r, DataNodeError) else scrub_doc(t, *r)
        for t, r in zip(nodes, results, strict=True)
    ]
    if args.json:
        emit_json({"nodes": docs})
    else:
        print_scrub_status(docs, args.volumes)
    for doc in docs:
        if doc["error"] is not None:
            error(f"{doc['node']}: {doc['error']}")
    return failure_code(results)


async def all_findings(client: DataNodeClient, timeout: float) -> list[Finding]:
    found: list[Finding] = []
    page, after = await client.scrub_findings(timeout=timeout)
    found += page
    while after is not None:
        page, after = await client.scrub_findings(after, timeout=timeout)
        found += page
    return found


def scrub_doc(target: Target, status: ScrubStatus, findings: list[Finding] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "node": target.name,
        "addr": target.addr,
        "error": None,
        "state": str(status.state),
        "enabled": status.enabled,
        "rate_mib_s": status.rate_mib_s,
        "current_volume": status.current_volume,
        "pass": {
            "started_at": status.pass_started_at,
            "finished_at": status.pass_finished_at,
            "volumes_done": status.pass_volumes_done,
            "volumes_total": status.pass_volumes_total,
            "bytes": status.pass_bytes,
        },
        "findings": status.findings,
        "volumes": [dataclasses.asdict(v) for v in status.volumes],
    }
    if findings is not None:
        doc["finding_list"] = [finding_doc(f) for f in findings]
    return doc


def finding_doc(f: Finding) -> dict[str, Any]:
    doc = dataclasses.asdict(f)
    del doc["key"]
    return {"blob_id": f.key.blob_id.hex(), "index": f.key.index, **doc, "kind": str(f.kind)}


def print_scrub_status(docs: list[dict[str, Any]], volumes: bool) -> None:
    now = int(time.time() * 1000)
    rows: list[tuple[Any, ...]] = []
    for d in docs:
        if d["error"] is not None:
            rows.append((d["node"], d["addr"], d["state"], *("",) * 5))
            continue
        p = d["pass"]
        unfinished = p["started_at"] is not None and p["finished_at"] is None
        progress = (
            f"{p['volumes_done']}/{p['volumes_total']} volumes, {size(p['bytes'])}, started "
            f"{age(ms(p['started_at']), now)}"
            if unfinished
            else "-"
        )
        last = f"finished {age(ms(p['finished_at']), now)}" if p["finished_at"] else "never"
        oldest = min((v["scrubbed_at"] for v in d["volumes"]), default=None)
        rows.append(
            (
                d["node"],
                d["addr"],
                d["state"] + ("" if d["enabled"] else " (timer off)"),
                progress,
                last,
                age(ms(oldest), now) if oldest else "never",
                d["findings"],
                sum(1 for v in d["volumes"] if v["error"]),
            )
        )
    print(
        table(
            (
                "NODE",
                "ADDRESS",
                "STATE",
                "PASS UNDER WAY",
                "LAST PASS",
                "OLDEST SCRUB",
                "FINDINGS",
                "VOLUME ERRORS",
            ),
            rows,
        )
    )
    for d in docs:
        if d["error"] is not None:
            continue
        if volumes and d["volumes"]:
            print(f"\n{Target(d['node'], d['addr']).label}: volumes")
            vrows = [
                (
                    v["volume"],
                    age(ms(v["scrubbed_at"]), now),
                    size(v["bytes"]),
                    v["records"],
                    v["damaged"],
                    v["findings"],
                    v["error"] or "-",
                )
                for v in d["volumes"]
            ]
            print(
                table(("VOLUME", "SCRUBBED", "READ", "RECORDS", "DAMAGED", "FINDINGS", "ERROR"), vrows, "  ")
            )
        if d.get("finding_list"):
            print(f"\n{Target(d['node'], d['addr']).label}: {len(d['finding_list'])} finding(s)")
            frows = [
                (f["blob_id"], f["index"], f["pg"], f["kind"], f["volume"], f["offset"], f["detail"])
                for f in d["finding_list"]
            ]
            print(table(("BLOB ID", "SHARD", "PG", "KIND", "VOLUME", "OFFSET", "DETAIL"), frows, "  "))


async def scrub_start(args: argparse.Namespace) -> int:
    return await scrub_action(
        args,
        lambda c: c.scrub_start(timeout=args.timeout),
        "started",
        lambda started: "started a pass" if started else "a pass is already under way (not paused)",
    )


async def scrub_pause(args: argparse.Namespace) -> int:
    async def pause(client: DataNodeClient) -> bool:
        await client.scrub_pause(timeout=args.timeout)
        return True

    return await scrub_action(args, pause, "paused", lambda _: "paused (`cairn admin scrub start` goes on)")


async def scrub_action(
    args: argparse.Namespace,
    call: Callable[[DataNodeClient], Awaitable[bool]],
    field: str,
    say: Callable[[bool], str],
) -> int:
    """`call` on every node; one line (or JSON entry, `field` its answer) per node."""
    nodes = await targets(args, args.nodes)
    results = await each_node(nodes, call)
    docs = []
    for t, r in zip(nodes, results, strict=True):
        failed = isinstance(r, DataNodeError)
        docs.append(
            {
                "node": t.name,
                "addr": t.addr,
                field: None if failed else r,
                "error": str(r) if failed else None,
            }
        )
        if failed:
            error(f"{t.name}: {r}")
        elif not args.json:
            print(f"{t.name}: {say(bool(r))}")
    if args.json:
        emit_json({"nodes": docs})
    return failure_code(results)


# -- compaction -------------------------------------------------------------------------------


def result_doc(r: CompactionResult) -> dict[str, Any]:
    return {**dataclasses.asdict(r), "reclaimed_bytes": r.reclaimed_bytes}


def job_doc(p: Progress | None) -> dict[str, Any] | None:
    return None if p is None else {**dataclasses.asdict(p), "phase": p.phase.name}


def pass_doc(p: PassProgress | None) -> dict[str, Any] | None:
    if p is None:
        return None
    walked = sum(r.source_bytes for r in p.results)
    seconds = (p.finished_at or time.time()) - p.started_at
    return {
        "started_at": p.started_at,
        "finished_at": p.finished_at,
        "volumes": list(p.volumes),
        "results": [result_doc(r) for r in p.results],
        "reclaimed_bytes": p.reclaimed_bytes,
        "seconds": round(seconds, 3),
        "source_MBps": round(walked / seconds / 1e6, 1) if seconds > 0 else None,
    }


async def compact(args: argparse.Namespace) -> int:
    (target,) = await targets(args, [args.node])
    if args.status and (args.volume is not None or args.no_wait):
        raise TargetError("--status starts nothing: it takes no --volume or --no-wait")
    client = connect(target.addr)
    try:
        if args.status:
            return show_compaction_status(args, target, await client.compaction_status(timeout=args.timeout))
        return await follow(args, target, client)
    finally:
        await client.close()


def show_compaction_status(args: argparse.Namespace, target: Target, s: CompactionStatus) -> int:
    doc = {
        "node": target.name,
        "addr": target.addr,
        "enabled": s.enabled,
        "running": s.running,
        "current": job_doc(s.current),
        "last_pass": pass_doc(s.last_pass),
        "compacted": s.compacted,
        "aborted": s.aborted,
        "reclaimed_bytes": s.reclaimed_bytes,
        "recent": [result_doc(r) for r in s.recent],
    }
    if args.json:
        emit_json(doc)
        return 0
    now = int(time.time() * 1000)
    state = "running" if s.running else "idle"
    print(f"{target.label}: compaction {state}, timer {'on' if s.enabled else 'off'}")
    print(f"all time: {s.compacted} job(s) done, {s.aborted} other, reclaimed {size(s.reclaimed_bytes)}")
    if s.current is not None:
        print(f"now:      {job_line(s.current)}")
    if s.last_pass is not None:
        p = s.last_pass
        end = f"finished {age(ms(p.finished_at), now)}" if p.finished_at else "under way"
        print(
            f"last pass: started {age(ms(p.started_at), now)}, {end}: {len(p.results)}/{len(p.volumes)} "
            f"volume(s), reclaimed {size(p.reclaimed_bytes)}"
        )
    if s.recent:
        print("recent jobs:")
        rows = [
            (
                r.source,
                r.target or "-",
                size(r.source_bytes),
                size(r.target_bytes),
                size(r.reclaimed_bytes),
                age(ms(r.finished_at), now),
                r.outcome,
            )
            for r in s.recent
        ]
        print(
            table(
                ("SOURCE", "TARGET", "SOURCE SIZE", "TARGET SIZE", "RECLAIMED", "FINISHED", "OUTCOME"),
                rows,
                "  ",
            )
        )
    return 0


def job_line(p: Progress) -> str:
    return (
        f"volume {p.source} -> {p.target}: {p.phase.name}, walked {size(p.scanned_bytes)} of "
        f"{size(p.source_bytes)}, copied {size(p.copied_bytes)}"
    )


def result_line(r: CompactionResult) -> str:
    sizes = f"{size(r.source_bytes)} -> {size(r.target_bytes)}"
    if r.outcome == "done":
        return f"volume {r.source}: done, {sizes}, reclaimed {size(r.reclaimed_bytes)}"
    return f"volume {r.source}: {r.outcome}"


async def follow(args: argparse.Namespace, target: Target, client: DataNodeClient) -> int:
    """Start (or join) a pass and print its progress until it ends."""
    quiet = args.json
    last: CompactUpdate | None = None
    shown = 0  # results printed so far
    job_seen: tuple[int, str] | None = None
    live = sys.stdout.isatty() and not quiet
    async for update in client.compact(
        args.volume, args.dead_fraction, args.min_dead_bytes, timeout=FOLLOW_TIMEOUT_S
    ):
        if last is None and not quiet:
            how = "started a pass" if update.started else "a pass was already running; following it"
            print(f"{target.label}: {how}")
        last = update
        p = update.progress
        if not quiet:
            if live:
                print("\r\033[K", end="")
            if p.volumes and shown == 0 and job_seen is None:
                print(f"  {len(p.volumes)} volume(s) to compact: {', '.join(map(str, p.volumes))}")
            for r in p.results[shown:]:
                print(f"  {result_line(r)}")
            shown = len(p.results)
            job = update.job
            if job is not None and (job.job_id, job.phase.name) != job_seen:
                job_seen = (job.job_id, job.phase.name)
                if live:
                    print(f"  {job_line(job)}", end="", flush=True)
                else:
                    print(f"  {job_line(job)}", flush=True)
        if args.no_wait:
            break
    if live:
        print("\r\033[K", end="")
    if last is None:
        raise DataNodeError(f"{target.addr}: the Compact call ended without a word")
    p = last.progress
    doc = {"node": target.name, "addr": target.addr, "started": last.started, "pass": pass_doc(p)}
    if args.json:
        emit_json(doc)
    elif args.no_wait:
        print("  not waiting; `cairn admin compact NODE --status` shows how it goes")
    elif not p.volumes:
        print("  nothing to compact: no sealed volume is past the thresholds")
    else:
        pd = pass_doc(p)
        assert pd is not None
        done = sum(1 for r in p.results if r.outcome == "done")
        print(
            f"{len(p.results)} job(s): {done} done, {len(p.results) - done} other; reclaimed "
            f"{size(p.reclaimed_bytes)} in {pd['seconds']:.1f} s ({pd['source_MBps']} MB/s of volumes walked)"
        )
    if p.finished_at is not None and any(r.outcome != "done" for r in p.results):
        for r in p.results:
            if r.outcome != "done":
                error(f"{target.name}: volume {r.source}: {r.outcome}")
        return EXIT_REFUSED
    return 0
