"""The `cairn` command: `cairn up` runs a local cluster, `cairn admin ...` talks to one.

Each subcommand lives in its own module and registers itself here; this module only wires.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand name -> module offering `register(subparsers)`; the module's parser sets
#: `func(args) -> int` as its default.
SUBCOMMANDS = {
    "up": "cairn.local_cluster",
    "admin": "cairn.admin.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cairn", description="Cairn object storage")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in SUBCOMMANDS.values():
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
