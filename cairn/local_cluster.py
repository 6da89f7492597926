"""`cairn up`: a complete local cluster as separate processes on 127.0.0.1 (S3 API issue)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("up", help="run a local cluster")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("cairn up: the local cluster is not wired up yet", file=sys.stderr)
    return 2
