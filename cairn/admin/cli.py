"""`cairn admin ...`: operator commands (cluster map, users, keys)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("admin", help="administer a cluster")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("cairn admin: not available yet", file=sys.stderr)
    return 2
