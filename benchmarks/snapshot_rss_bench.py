#!/usr/bin/env python3
"""Peak RSS of the metadata leader while it sends a snapshot to a lagging follower.

    .venv/bin/python benchmarks/snapshot_rss_bench.py [--objects 50000] [--pad 400]
                                                      [--threshold 5000] [--replica-pythonpath DIR]

Starts three `python -m cairn.metadata` replicas (4 object shards, `raft.snapshot_threshold`
= `--threshold`, `snapshot_log_ratio` = 0: a snapshot on the entry count alone), creates a bucket, kills one follower (-9), then PUTs `--objects` object
versions (each with `--pad` bytes of user metadata, 64 calls in flight), so the leader's log is
compacted past what the follower holds. Then it samples the leader's RSS every 10 ms (VmRSS,
and RssAnon: its anonymous memory, i.e. without the shard files SQLite maps, up to 256 MiB
each) while the follower restarts and catches up by the leader's snapshot, and prints both
before the restart and at their peak during the transfer, the leader's VmHWM (its peak since it
started, the load included), the size of the leader's snapshot and the catch-up time. The loops are bounded:
the load by its count, the catch-up by `--catchup-timeout` seconds.

`--replica-pythonpath` runs the replicas from another installed copy of Cairn (e.g. an older
commit installed with `pip install --no-deps --target DIR`), for a before/after comparison;
the benchmark itself and its client come from this checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cairn.metadata.client import MetadataClient, MetadataError, ObjectAttrs  # noqa: E402
from tests.support.procs import ServiceProcess, free_port, wait_for  # noqa: E402

IDS = ["m1", "m2", "m3"]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _snapshot_bytes(raft_dir: Path) -> int:
    """Size of the leader's snapshot: its directory's files, or the one file of a version-1 one."""
    dirs = [p for p in raft_dir.glob("snap-*") if p.is_dir()]
    if dirs:
        return sum(f.stat().st_size for d in dirs for f in d.iterdir())
    return (raft_dir / "snapshot").stat().st_size


async def _status(port: int) -> tuple[str, int, int]:
    """Role, commit and applied index of a replica ("", -1, -1 when it does not answer in 5 s)."""
    try:
        async with MetadataClient(f"127.0.0.1:{port}", deadline_s=5.0) as client:
            s = await client.replica_status()
            return s.role, s.commit_index, s.applied_index
    except MetadataError:
        return "", -1, -1


async def _run(args: argparse.Namespace, base: Path) -> dict[str, object]:
    os.chdir(base)  # `python -m` puts the working directory first on sys.path: not this checkout
    ports = {i: free_port() for i in IDS}
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
    config = base / "metadata.toml"
    config.write_text(f"[raft]\nsnapshot_threshold = {args.threshold}\nsnapshot_log_ratio = 0\n")
    env = {"PYTHONPATH": args.replica_pythonpath} if args.replica_pythonpath else {}
    procs: dict[str, ServiceProcess] = {}

    def start(i: str, n: int, wait: bool = True) -> None:
        argv = ["--config", str(config), "--id", i, "--peers", peers, "--data-dir", str(base / i)]
        argv += ["--shards", "4", "--port", str(ports[i])]
        procs[i] = ServiceProcess("cairn.metadata", argv, base / f"{i}-{n}.log", env).start()
        if wait:
            wait_for(lambda: "metadata listening" in procs[i].log_tail(), 60, f"replica {i}")

    try:
        for i in IDS:
            start(i, 0)
        addrs = ",".join(f"127.0.0.1:{p}" for p in ports.values())
        async with MetadataClient(addrs, deadline_s=30.0) as client:
            await client.create_bucket("bkt", "owner")
            lead = ""
            while not lead:
                roles = {i: (await _status(ports[i]))[0] for i in IDS}
                lead = next((i for i, r in roles.items() if r == "leader"), "")
            victim = next(i for i in IDS if i != lead)
            first_lead = lead
            procs[victim].kill9()
            pad = (("pad", "x" * args.pad),)
            failed = 0
            started = time.monotonic()
            for first in range(0, args.objects, 64):

                async def one(n: int) -> bool:
                    try:
                        attrs = ObjectAttrs(size=n, etag=f"{n:032x}", user_metadata=pad)
                        await client.put_object("bkt", f"obj{n:07d}", attrs)
                        return True
                    except MetadataError:
                        return False

                done = await asyncio.gather(*(one(n) for n in range(first, min(args.objects, first + 64))))
                failed += done.count(False)
            load_s = time.monotonic() - started
        lead = ""  # the leader may have changed during the load
        while not lead:
            roles = {i: (await _status(ports[i]))[0] for i in IDS if i != victim}
            lead = next((i for i, r in roles.items() if r == "leader"), "")
        leader_pid = procs[lead].pid
        before_kib = _status_kib(leader_pid, "VmRSS")
        before_anon_kib = _status_kib(leader_pid, "RssAnon")
        snapshot = _snapshot_bytes(base / lead / "raft")
        start(victim, 1, wait=False)
        peak_kib, peak_anon_kib = before_kib, before_anon_kib
        started = time.monotonic()
        deadline = started + args.catchup_timeout
        caught_up = False
        last_check = 0.0
        while time.monotonic() < deadline:
            peak_kib = max(peak_kib, _status_kib(leader_pid, "VmRSS"))
            peak_anon_kib = max(peak_anon_kib, _status_kib(leader_pid, "RssAnon"))
            now = time.monotonic()
            if now - last_check > 0.25 and "metadata listening" in procs[victim].log_tail():
                last_check = now
                _, commit, _ = await _status(ports[lead])
                _, _, applied = await _status(ports[victim])
                if applied >= commit > 0:
                    caught_up = True
                    break
            await asyncio.sleep(0.01)
        catchup_s = time.monotonic() - started
        installed = "installed a snapshot" in procs[victim].log_tail(2000)
        return {
            "objects": args.objects,
            "failed_puts": failed,
            "load_s": round(load_s, 1),
            "snapshot_mib": round(snapshot / 2**20, 1),
            "leader_rss_before_mib": round(before_kib / 1024, 1),
            "leader_rss_peak_during_transfer_mib": round(peak_kib / 1024, 1),
            "leader_anon_before_mib": round(before_anon_kib / 1024, 1),
            "leader_anon_peak_during_transfer_mib": round(peak_anon_kib / 1024, 1),
            "leader_vmhwm_mib": round(_status_kib(leader_pid, "VmHWM") / 1024, 1),
            "leader_changed_during_load": lead != first_lead,
            "catchup_s": round(catchup_s, 1),
            "caught_up": caught_up,
            "follower_installed_snapshot": installed,
        }
    finally:
        for proc in procs.values():
            proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=50_000)
    parser.add_argument("--pad", type=int, default=400, help="bytes of user metadata per version")
    parser.add_argument("--threshold", type=int, default=5000, help="raft.snapshot_threshold")
    parser.add_argument("--catchup-timeout", type=float, default=300.0)
    parser.add_argument("--replica-pythonpath", default="", help="run the replicas from this copy")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="snapshot-rss-"))
    try:
        print(json.dumps(asyncio.run(_run(args, base)), indent=2))
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
