"""KMS commands: `kms create|list|describe|disable|enable` over the metadata service's built-in
key store (metadata/kms.py).

Keys are named by id, key ARN, `alias/NAME` or alias ARN. A key's material never leaves the
metadata service: these commands show its id, ARN, alias, state and the cluster master key
sealing it. Finding the metadata service and exit codes are as for the IAM commands
(iam_cmds.py): 0 done, 1 refused (no such key, alias taken, no master keyring), 2 no service
found or unreachable. A disabled key refuses new writes and reads of the objects under it
(400 KMS.DisabledException) until it is enabled again.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any, Protocol, cast

from cairn.admin import iam_cmds
from cairn.admin.output import emit_json, table, timestamp
from cairn.metadata.models import KmsKey


class KmsClient(Protocol):
    """The part of `cairn.metadata.client.MetadataClient` these commands use."""

    async def create_kms_key(self, alias: str = "", description: str = "") -> KmsKey: ...
    async def get_kms_key(self, key: str) -> KmsKey: ...
    async def list_kms_keys(self) -> tuple[KmsKey, ...]: ...
    async def set_kms_key_enabled(self, key: str, enabled: bool) -> KmsKey: ...


def key_doc(key: KmsKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "arn": key.arn,
        "alias": f"alias/{key.alias}" if key.alias else "",
        "description": key.description,
        "enabled": key.enabled,
        "state": "Enabled" if key.enabled else "Disabled",
        "master_key_id": key.master_key_id,
        "created_ms": key.created_ms,
        "created": timestamp(key.created_ms),
    }


def _show(args: argparse.Namespace, key: KmsKey, verb: str) -> int:
    if args.json:
        emit_json(key_doc(key))
    else:
        alias = f" (alias/{key.alias})" if key.alias else ""
        print(f"{verb} KMS key {key.key_id}{alias}: {key.arn}, {key_doc(key)['state']}")
    return 0


async def kms_create(args: argparse.Namespace, client: KmsClient) -> int:
    return _show(args, await client.create_kms_key(args.alias or "", args.description or ""), "created")


async def kms_describe(args: argparse.Namespace, client: KmsClient) -> int:
    key = await client.get_kms_key(args.key)
    if args.json:
        emit_json(key_doc(key))
        return 0
    doc = key_doc(key)
    print(table(("FIELD", "VALUE"), [(k, doc[k]) for k in sorted(doc)]))
    return 0


async def kms_list(args: argparse.Namespace, client: KmsClient) -> int:
    keys = await client.list_kms_keys()
    if args.json:
        emit_json({"keys": [key_doc(k) for k in keys]})
        return 0
    rows = [
        (
            k.key_id,
            f"alias/{k.alias}" if k.alias else "-",
            key_doc(k)["state"],
            k.master_key_id,
            timestamp(k.created_ms),
        )
        for k in keys
    ]
    print(table(("KEY ID", "ALIAS", "STATE", "MASTER KEY", "CREATED"), rows))
    return 0


async def kms_disable(args: argparse.Namespace, client: KmsClient) -> int:
    return _show(args, await client.set_kms_key_enabled(args.key, False), "disabled")


async def kms_enable(args: argparse.Namespace, client: KmsClient) -> int:
    return _show(args, await client.set_kms_key_enabled(args.key, True), "enabled")


def _run(command: Any) -> Any:
    return partial(iam_cmds.run, command=cast(iam_cmds.Command, command))


def register(groups: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "--metadata", metavar="HOST:PORT[,...]", help="metadata replicas (default: from cluster.json)"
    )
    parents = [common, target]
    kms = groups.add_parser("kms", help="KMS keys of the built-in key store (SSE-KMS)")
    sub = kms.add_subparsers(dest="kms_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("create", parents=parents, help="create a KMS key")
    p.add_argument("--alias", help="an alias for it (NAME or alias/NAME; not aws/...)")
    p.add_argument("--description", help="a description")
    p.set_defaults(func=_run(kms_create))
    p = sub.add_parser("list", parents=parents, help="all KMS keys")
    p.set_defaults(func=_run(kms_list))
    for name, func, text in (
        ("describe", kms_describe, "one key"),
        ("disable", kms_disable, "disable a key (writes and reads under it are refused)"),
        ("enable", kms_enable, "enable a disabled key"),
    ):
        p = sub.add_parser(name, parents=parents, help=text)
        p.add_argument("key", metavar="KEY", help="key id, key ARN, alias/NAME or alias ARN")
        p.set_defaults(func=_run(func))
