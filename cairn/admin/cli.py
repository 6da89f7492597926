"""`cairn admin ...`: operator commands against a running cluster.

Command groups live in their own modules, each offering `register(subparsers, common)`: add the
group's parsers to `subparsers` with `parents=[common]` (the shared --placement / --data-dir /
--json / --timeout options) and set `func(args) -> int` on every leaf. Adding a group is one line
in GROUPS. `run()` wraps a command's coroutine and maps failures to exit codes and one-line
messages: 2 = no cluster found or bad usage, 3 = placement unreachable or without a leader,
1 = the service refused the request.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any

from cairn.admin.output import error
from cairn.admin.target import TargetError, placement_addrs, use_admin_identity

#: Modules registering admin command groups.
GROUPS = (
    "cairn.admin.cluster_cmds",
    "cairn.admin.iam_cmds",
    "cairn.admin.kms_cmds",
    "cairn.admin.datanode_cmds",
    "cairn.admin.gc_cmds",
    "cairn.admin.repair_cmds",
)

EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--placement", metavar="HOST:PORT,...", help="placement replicas (default: from cluster.json)"
    )
    common.add_argument(
        "--data-dir",
        help="local cluster directory holding cluster.json (default: $CAIRN_DATA_DIR or ./cairn-data)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    common.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the cluster (default 10)"
    )
    return common


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("admin", help="administer a cluster")
    groups = parser.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)
    common = common_options()
    for module_name in GROUPS:
        importlib.import_module(module_name).register(groups, common)


def run(
    args: argparse.Namespace, command: Callable[[argparse.Namespace, list[str]], Coroutine[Any, Any, int]]
) -> int:
    """Resolve the placement addresses and run `command(args, addrs)`, mapping errors to exit codes."""
    from cairn.placement.client import PlacementError, PlacementUnavailable

    try:
        use_admin_identity(args.data_dir)
        addrs = placement_addrs(args.placement, args.data_dir)
        return asyncio.run(command(args, addrs))
    except TargetError as exc:
        error(str(exc))
        return EXIT_USAGE
    except PlacementUnavailable as exc:
        error(str(exc))
        return EXIT_UNAVAILABLE
    except PlacementError as exc:
        error(f"refused ({exc.reason}): {exc}")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
