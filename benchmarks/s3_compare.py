#!/usr/bin/env python3
"""S3 workloads against one endpoint, or side by side against Cairn and a peer, with ratios.

    .venv/bin/python benchmarks/s3_compare.py --cluster-json cairn-data/cluster.json --peer seaweedfs
    .venv/bin/python benchmarks/s3_compare.py --endpoint URL --access-key K --secret-key S

Workloads (`--workloads`, all by default; s3_workloads.py says what each does): large (64 MiB PUT and
MD5-verified GET at concurrency 1 and 4), small (4 KiB PUT/GET/DELETE at concurrency 32, with p50
and p99 latency), multipart (256 MiB in 16 MiB parts), ranged (1 MiB ranged GETs at concurrency 8),
list (ListObjectsV2 over 10,000 keys). Every phase is bounded by a count and a time limit.

The client is a raw asyncio HTTP/1.1 client (http11.py), one keep-alive connection per concurrent
worker, SigV4 header auth with UNSIGNED-PAYLOAD (s3_sigv4.py, checked against botocore by
`--self-check`). Each phase reports the client's own CPU time as a share of one core, so a reader
sees when the client, not the server, set the pace; the server's CPU time per operation, from
/proc, for the processes in cluster.json (every `cairn up` process and its children) or the peer's;
and the CPU that other work on the machine took meanwhile (machine busy time less client and server).

With `--peer seaweedfs` the peer is started with `shared/peers/seaweedfs.sh start DIR`, each
workload runs on the system under test and then on the peer, and the peer is stopped at the end
(also after a failure or Ctrl-C). Output: one table (values, ratio system/peer, which direction is
better), a CPU-by-role table for a multi-process server, and with `--json-out FILE` (`-` for
stdout) a JSON document of every figure. `--profile DIR` runs py-spy on every cluster process during
the phases `--profile-phase` names (cluster_profile.py). A bucket is created per system and every
object written is deleted at the end, then the bucket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from types import FrameType
from typing import Any

import peers
from bench_phase import Bench, PhaseResult
from cluster_profile import EXTENSIONS, Profiler
from s3_endpoint import ClusterInfo, ServerProcess, add_endpoint_args, resolve_endpoint_args
from s3_ops import S3Client
from s3_sigv4 import check_against_botocore
from s3_workloads import WORKLOADS, Settings, Workloads, phase_names
from server_cpu import CpuMeter

_SIZE = re.compile(r"^(\d+)\s*(|k|kib|m|mib|g|gib)$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}


def parse_size(text: str) -> int:
    """Bytes, with an optional K/KiB/M/MiB/G/GiB suffix (binary units)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from err


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Settings, ClusterInfo | None]:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_endpoint_args(p)
    p.add_argument("--name", help="the system's name in the table (default: cairn with --cluster-json)")
    p.add_argument("--peer", choices=["seaweedfs"], help="also start this peer and run the same workloads")
    p.add_argument("--peer-dir", type=Path, default=Path("/tmp/cairn-bench-peer"), help="peer's work dir")
    p.add_argument("--peer-script", type=Path, help="the peer's start/stop script (default: found)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset, run in order")
    for f in fields(Settings):
        flag, default = "--" + f.name.replace("_", "-"), f.default
        kind: Any = parse_size if f.name.endswith("_size") else type(default)
        if isinstance(default, tuple):
            kind, shown = parse_int_list, ",".join(map(str, default))
        else:
            shown = str(default)
        p.add_argument(flag, type=kind, default=default, help=f"{f.metadata['help']} (default: {shown})")
    p.add_argument("--json-out", help="write the JSON document here (- for stdout)")
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy every cluster process into DIR")
    p.add_argument("--profile-phase", default="small-put", help="phase or workload to profile")
    p.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--profile-format", choices=sorted(EXTENSIONS), default="speedscope")
    p.add_argument("--self-check", action="store_true", help="compare the SigV4 signer with botocore's, exit")
    args = p.parse_args(argv)
    settings = Settings(**{f.name: getattr(args, f.name) for f in fields(Settings)})
    if args.self_check:
        return args, settings, None
    cluster = resolve_endpoint_args(p, args)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        p.error(f"unknown workloads: {', '.join(sorted(unknown))} (known: {', '.join(WORKLOADS)})")
    if args.profile and not (cluster and cluster.processes):
        p.error("--profile needs --cluster-json (it profiles the processes listed there)")
    if args.profile and args.profile_phase not in {*phase_names(settings), *WORKLOADS}:
        p.error(f"--profile-phase must be one of: {', '.join([*WORKLOADS, *phase_names(settings)])}")
    args.name = args.name or ("cairn" if cluster else "target")
    if args.peer:
        args.peer_script = args.peer_script or peers.find_script(args.peer)
        if args.peer_script is None:
            p.error(f"no shared/peers/{args.peer}.sh found above {peers.REPO}; pass --peer-script")
    return args, settings, cluster


async def run(workloads: list[str], runs: list[Workloads]) -> None:
    """Each workload on every system in turn (interleaved, so slow drift in the machine's load
    affects both alike); the peer lists as many keys as the first system managed to create."""
    try:
        for w in runs:
            await w.b.create_bucket()
        for name in workloads:
            for i, w in enumerate(runs):
                if name == "list" and i > 0:
                    w.list_limit = runs[0].list_created
                await w.runner(name)()
    finally:
        for w in runs:
            await w.b.cleanup()


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def comparison(benches: list[Bench]) -> list[dict[str, Any]]:
    """One row per (phase, metric): each system's value, and the first system's over the second's."""
    names = [b.name for b in benches]
    by_phase: dict[str, dict[str, PhaseResult]] = {}
    for b in benches:
        for r in b.results:
            by_phase.setdefault(r.phase, {})[b.name] = r
    rows = []
    for phase, results in by_phase.items():
        values: dict[str, dict[str, float]] = {
            n: {m.name: m.value for m in r.metrics()} for n, r in results.items()
        }
        better = {m.name: m.better for r in results.values() for m in r.metrics()}
        first = next(iter(results.values()))
        for metric in better:
            row: dict[str, Any] = {
                "phase": phase,
                "label": first.label,
                "metric": metric,
                "better": better[metric],
            }
            row.update({n: values.get(n, {}).get(metric) for n in names})
            row["profiled"] = any(r.profiled for r in results.values())
            if len(names) == 2 and better[metric]:
                a, b = row[names[0]], row[names[1]]
                row["ratio"] = a / b if a is not None and b else None
            rows.append(row)
    return rows


def print_table(benches: list[Bench], rows: list[dict[str, Any]]) -> None:
    names = [b.name for b in benches]
    ratio = f"{names[0]}/{names[1]}" if len(names) == 2 else None
    header = f"{'phase':<40} {'metric':<18}" + "".join(f" {n:>10}" for n in names)
    header += f" {ratio:>16}  better" if ratio else "  better"
    print(header)
    print("-" * len(header))
    last = None
    for row in rows:
        label = row["label"] + (" [profiled]" if row["profiled"] else "") if row["phase"] != last else ""
        last = row["phase"]
        line = f"{label:<40} {row['metric']:<18}" + "".join(f" {_fmt(row[n]):>10}" for n in names)
        if ratio:
            line += f" {_fmt(row.get('ratio')) if row['better'] else '':>16}"
        print(line + f"  {row['better'] or '(info)'}")
    if ratio:
        print(
            f"\nratio = {names[0]} / {names[1]}: on a 'higher' row above 1 means {names[0]} is ahead;"
            f" on a 'lower' row (latency, CPU per op) below 1 does."
        )


def print_roles(bench: Bench) -> None:
    roles = sorted({role for r in bench.results for role in r.server_cpu_by_role})
    if len(roles) < 2:
        return
    print(f"\nserver CPU seconds by role, {bench.name} (cores = CPU seconds / wall seconds):")
    print(f"{'phase':<16}" + "".join(f" {role:>10}" for role in roles) + f" {'total':>8} {'cores':>6}")
    for r in bench.results:
        total = sum(r.server_cpu_by_role.values())
        cells = "".join(f" {r.server_cpu_by_role.get(role, 0.0):>10.2f}" for role in roles)
        print(f"{r.phase:<16}{cells} {total:>8.2f} {total / (r.seconds or 1):>6.2f}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args, settings, cluster = parse_args(argv)
    if args.self_check:
        problems = check_against_botocore()
        print("\n".join(problems) if problems else "SigV4 signer agrees with botocore on every sample")
        return 1 if problems else 0
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    doc: dict[str, Any] = {
        "command": sys.argv if argv is None else argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "settings": asdict(settings),
    }
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    processes = cluster.processes if cluster else ()
    profiler = None
    if args.profile:
        profiler = Profiler(
            processes, args.profile, args.profile_phase, args.profile_rate, args.profile_format
        )
    timeout = settings.request_timeout
    s3 = S3Client(args.endpoint, args.access_key, args.secret_key, args.region, args.ca_bundle, timeout)
    benches = [Bench(args.name, s3, CpuMeter(processes), profiler)]
    status = 0
    try:
        if args.peer:
            print(f"starting {args.peer} in {args.peer_dir} ...", file=sys.stderr)
            peer = peers.start(args.peer, args.peer_script, args.peer_dir)
            peer_s3 = S3Client(peer.endpoint, peer.access_key, peer.secret_key, "us-east-1", None, timeout)
            meter = CpuMeter([ServerProcess(peer.name, peer.name, peer.pid)])
            benches.append(Bench(peer.name, peer_s3, meter))
        asyncio.run(run(args.workloads, [Workloads(b, settings) for b in benches]))
    except peers.PeerError as err:
        print(err, file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("interrupted: the figures below are those of the phases that finished", file=sys.stderr)
        status = 130
    finally:
        if args.peer:
            print(f"stopping {args.peer} ...", file=sys.stderr)
            peers.stop(args.peer_script, args.peer_dir)
    rows = comparison(benches)
    print_table(benches, rows)
    for b in benches:
        print_roles(b)
    doc["load_average_after"] = os.getloadavg()
    print(f"\nload average before {doc['load_average_before']}, after {doc['load_average_after']}")
    doc["systems"] = [
        {
            "name": b.name,
            "endpoint": b.s3.endpoint,
            "bucket": b.bucket,
            "phases": [r.doc() for r in b.results],
        }
        for b in benches
    ]
    doc["comparison"] = rows
    if args.json_out == "-":
        print(json.dumps(doc, indent=2))
    elif args.json_out:
        Path(args.json_out).write_text(json.dumps(doc, indent=2) + "\n")
    if status == 0 and any(r.errors for b in benches for r in b.results):
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
