"""`cairn serve ROLE [flags]`: run one service in the foreground, as `python -m cairn.ROLE` does.

The container image has `cairn` as its entry point, so every role runs from one image:
`cairn serve placement|metadata|datanode|api|gc` followed by that service's own flags
(`cairn serve datanode --help` lists them).
"""

from __future__ import annotations

import argparse
import importlib

#: role -> the module whose `main(argv)` runs it
ROLES = {
    "placement": "cairn.placement.__main__",
    "metadata": "cairn.metadata.__main__",
    "datanode": "cairn.datanode.__main__",
    "api": "cairn.api_service.__main__",
    "gc": "cairn.gc.__main__",
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="run one service (placement, metadata, datanode, api or gc) in the foreground",
        description="Run one service in the foreground; the flags after ROLE are the service's own "
        "(cairn serve ROLE --help).",
    )
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the service's flags")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(ROLES[args.role])
    module.main(list(args.args))
    return 0
