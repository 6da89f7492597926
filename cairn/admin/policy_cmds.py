"""User policy commands: `cairn admin user policy put|get|list|delete USER [NAME] [FILE]`.

Inline IAM policies attached to a user, evaluated by the S3 API on every request the user signs
(api_service/policy.py and access.py), read per request, so a change applies to the next one.
`put` validates the document first with the same parser the S3 API evaluates with (a user
policy has no Principal; anything else malformed is refused with `MalformedPolicyDocument`, exit
1, and nothing is stored). FILE is a path or `-` for stdin. `get` prints the document as stored.
Exit codes as for the other IAM commands (iam_cmds.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from cairn.admin.cli import EXIT_REFUSED, EXIT_USAGE
from cairn.admin.output import emit_json, error, table, timestamp
from cairn.api_service.policy import MalformedPolicy, parse_policy
from cairn.metadata.client import Policy


class PolicyClient(Protocol):
    """The part of `cairn.metadata.client.MetadataClient` these commands use."""

    async def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None: ...
    async def get_user_policy(self, user_name: str, policy_name: str) -> Policy: ...
    async def list_user_policies(self, user_name: str) -> tuple[Policy, ...]: ...
    async def delete_user_policy(self, user_name: str, policy_name: str) -> None: ...


def register(
    users: argparse._SubParsersAction,  # type: ignore[type-arg]
    parents: list[argparse.ArgumentParser],
    run: Callable[..., int],
) -> None:
    """Add `policy ...` under `cairn admin user`; `run` is iam_cmds.run (client and exit codes)."""
    group = users.add_parser("policy", help="inline policies attached to a user")
    sub = group.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("put", parents=parents, help="attach (or replace) policy NAME from FILE (- for stdin)")
    p.add_argument("user", metavar="USER")
    p.add_argument("name", metavar="NAME")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=partial(run, command=policy_put))
    p = sub.add_parser("get", parents=parents, help="print policy NAME of USER as stored")
    p.add_argument("user", metavar="USER")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=partial(run, command=policy_get))
    p = sub.add_parser("list", parents=parents, help="the policies attached to USER")
    p.add_argument("user", metavar="USER")
    p.set_defaults(func=partial(run, command=policy_list))
    p = sub.add_parser("delete", parents=parents, help="detach policy NAME from USER")
    p.add_argument("user", metavar="USER")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=partial(run, command=policy_delete))


def _read(source: str) -> str | None:
    try:
        return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        error(f"cannot read the policy from {source}: {exc}")
        return None


def _doc(user: str, policy: Policy) -> dict[str, Any]:
    return {
        "user": user,
        "name": policy.name,
        "document": json.loads(policy.document),
        "updated_ms": policy.updated_ms,
        "updated": timestamp(policy.updated_ms),
    }


async def policy_put(args: argparse.Namespace, client: PolicyClient) -> int:
    text = _read(args.file)
    if text is None:
        return EXIT_USAGE
    try:
        parse_policy(text)
    except MalformedPolicy as exc:
        error(f"MalformedPolicyDocument: {exc.message}")
        return EXIT_REFUSED
    await client.put_user_policy(args.user, args.name, text)
    if args.json:
        emit_json({"user": args.user, "name": args.name, "attached": True})
    else:
        print(f"attached policy {args.name} to user {args.user}")
    return 0


async def policy_get(args: argparse.Namespace, client: PolicyClient) -> int:
    policy = await client.get_user_policy(args.user, args.name)
    if args.json:
        emit_json(_doc(args.user, policy))
    else:
        print(policy.document)
    return 0


async def policy_list(args: argparse.Namespace, client: PolicyClient) -> int:
    policies = sorted(await client.list_user_policies(args.user), key=lambda p: p.name)
    if args.json:
        emit_json({"user": args.user, "policies": [_doc(args.user, p) for p in policies]})
        return 0
    print(
        table(
            ("NAME", "UPDATED", "STATEMENTS"),
            [(p.name, timestamp(p.updated_ms), _count(p)) for p in policies],
        )
    )
    return 0


def _count(policy: Policy) -> int:
    return len(parse_policy(policy.document).statements)


async def policy_delete(args: argparse.Namespace, client: PolicyClient) -> int:
    await client.delete_user_policy(args.user, args.name)
    if args.json:
        emit_json({"user": args.user, "name": args.name, "deleted": True})
    else:
        print(f"detached policy {args.name} from user {args.user}")
    return 0
