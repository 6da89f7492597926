"""The `cairn` command: `cairn up` runs a local cluster, `cairn admin ...` talks to one.

Each subcommand lives in its own module and registers itself here; this module only wires.
A reader that goes away early (`cairn admin key list | head -1`) ends the command quietly with
status 141, as SIGPIPE ends other Unix tools, instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

#: subcommand name -> module offering `register(subparsers)`; the module's parser sets
#: `func(args) -> int` as its default.
SUBCOMMANDS = {
    "up": "cairn.local_cluster",
    "admin": "cairn.admin.cli",
    "serve": "cairn.serve_cmd",
    "kube-domain": "cairn.kube_domain",
    "certs": "cairn.certs_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cairn", description="Cairn object storage")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in SUBCOMMANDS.values():
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


#: The status a process killed by SIGPIPE reports in a shell (128 + 13).
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
            result = args.func(args)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
