"""Background service commands: `gc status`, `gc run --once [--worker NAME]`.

They talk to the background service (cairn.gc) at `--gc HOST:PORT`, else at the address the
local cluster's cluster.json gives the process with role "gc". `run --once` asks for one pass
of the named workers (all when none), in the service's pass order, and prints what each did;
the service also runs every worker on its own timer.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from cairn.admin.cli import EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from cairn.admin.output import age, emit_json, error, table
from cairn.admin.target import TargetError, data_dir, local_processes, use_admin_identity
from cairn.gc.client import GcClient
from cairn.gc.errors import GcError, GcUnavailable
from cairn.gc.worker import PassResult, WorkerStatus


def register(groups: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    gc = groups.add_parser("gc", help="the background service: reclaiming space")
    sub = gc.add_subparsers(dest="gc_command", metavar="SUBCOMMAND", required=True)
    gc_target = argparse.ArgumentParser(add_help=False)
    gc_target.add_argument(
        "--gc", metavar="HOST:PORT", help="the background service (default: from cluster.json)"
    )
    p = sub.add_parser(
        "status", parents=[common, gc_target], help="each worker's passes, totals so far and waiting work"
    )
    p.set_defaults(func=partial(run_gc, command=gc_status))
    p = sub.add_parser(
        "run", parents=[common, gc_target], help="run workers' passes now and print what they did"
    )
    p.add_argument("--once", action="store_true", required=True, help="one pass of each worker (required)")
    p.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="NAME",
        help="only this worker (repeatable; default all)",
    )
    p.set_defaults(func=partial(run_gc, command=gc_run))


def gc_addr(flag: str | None, data_dir_flag: str | None) -> str:
    if flag:
        return flag
    directory = data_dir(data_dir_flag)
    for process in local_processes(directory):
        if process.get("role") == "gc" and process.get("addr"):
            return str(process["addr"])
    raise TargetError(f"{directory / 'cluster.json'} lists no gc process (pass --gc HOST:PORT)")


def run_gc(
    args: argparse.Namespace, command: Callable[[argparse.Namespace, GcClient], Coroutine[Any, Any, int]]
) -> int:
    """Resolve the service's address and run `command`, mapping errors to exit codes."""

    async def main(addr: str) -> int:
        client = GcClient(addr)
        try:
            return await command(args, client)
        finally:
            await client.close()

    try:
        use_admin_identity(args.data_dir)
        return asyncio.run(main(gc_addr(args.gc, args.data_dir)))
    except TargetError as exc:
        error(str(exc))
        return EXIT_USAGE
    except GcUnavailable as exc:
        error(f"background service unreachable: {exc}")
        return EXIT_UNAVAILABLE
    except GcError as exc:
        error(f"refused ({type(exc).__name__}): {exc}")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130


def result_doc(result: PassResult) -> dict[str, Any]:
    return {
        "worker": result.worker,
        "started_s": result.started_s,
        "duration_s": round(result.duration_s, 3),
        "counters": result.counters,
        "error": result.error,
    }


def status_doc(status: WorkerStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "interval_s": status.interval_s,
        "running": status.running,
        "passes": status.passes,
        "totals": status.totals,
        "backlog": status.backlog,
        "last": result_doc(status.last) if status.last else None,
    }


def _counts(counters: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counters.items())) or "-"


async def gc_status(args: argparse.Namespace, client: GcClient) -> int:
    statuses = await client.status(timeout=args.timeout)
    if args.json:
        emit_json({"workers": [status_doc(s) for s in statuses]})
        return 0
    now_ms = int(time.time() * 1000)
    rows = []
    for s in statuses:
        last = "never"
        if s.last is not None:
            last = age(int(s.last.started_s * 1000), now_ms) + (
                f" (error: {s.last.error})" if s.last.error else ""
            )
        rows.append(
            [
                s.name,
                "running" if s.running else "idle",
                f"every {s.interval_s:g}s",
                s.passes,
                last,
                _counts(s.backlog),
                _counts(s.totals),
            ]
        )
    print(table(["WORKER", "STATE", "TIMER", "PASSES", "LAST PASS", "WAITING", "DONE SO FAR"], rows))
    return 0


async def gc_run(args: argparse.Namespace, client: GcClient) -> int:
    results = await client.run_once(args.worker)
    if args.json:
        emit_json({"results": [result_doc(r) for r in results]})
    else:
        rows = [[r.worker, f"{r.duration_s:.2f}s", _counts(r.counters), r.error or "-"] for r in results]
        print(table(["WORKER", "TOOK", "DONE", "ERROR"], rows))
    return 1 if any(r.error for r in results) else 0
