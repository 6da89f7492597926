"""KMS commands: `kms create|list|describe|disable|enable` over the metadata service's built-in
key store (metadata/kms.py), and `kms rotate-master`.

Keys are named by id, key ARN, `alias/NAME` or alias ARN. A key's material never leaves the
metadata service: these commands show its id, ARN, alias, state and the cluster master key
sealing it. Finding the metadata service and exit codes are as for the IAM commands
(iam_cmds.py): 0 done, 1 refused (no such key, alias taken, no master keyring), 2 no service
found or unreachable. A disabled key refuses new writes and reads of the objects under it
(400 KMS.DisabledException) until it is enabled again.

`rotate-master` rotates the cluster master key of a keyring file (`--keyring`, default the local
cluster's master-keyring.json; every process re-reads it within a second, sse_crypto.KeyringFile):
1. adds a new active master key to the file (not with `--resume`, which goes on under the
   active key an interrupted run added);
2. waits until the metadata leader seals with it;
3. walks every KMS key and every object shard in pages (ResealMasterKeys), re-sealing each
   stored key sealed under another master key (KMS key material, SSE-S3 data keys of versions and
   of parts of uploads in progress): object data is never rewritten. Runs again, after `--grace`
   seconds (writes that sealed under the old key before their process saw the new one must have
   committed by then), until a run re-seals nothing;
4. removes from the file every master key no stored seal names any more (`--keep-old` keeps them).
A master key a seal still names but the service could not open is kept and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

from cairn.admin import iam_cmds
from cairn.admin.cli import EXIT_REFUSED
from cairn.admin.output import emit_json, error, table, timestamp
from cairn.admin.target import data_dir
from cairn.metadata.models import KmsKey, ResealPage
from cairn.sse_crypto import Keyring

KMS_KEYS = -1  # metadata/kms.py's target naming the KMS keys


class KmsClient(Protocol):
    """The part of `cairn.metadata.client.MetadataClient` these commands use."""

    async def create_kms_key(self, alias: str = "", description: str = "") -> KmsKey: ...
    async def get_kms_key(self, key: str) -> KmsKey: ...
    async def list_kms_keys(self) -> tuple[KmsKey, ...]: ...
    async def set_kms_key_enabled(self, key: str, enabled: bool) -> KmsKey: ...
    async def reseal_master_keys(self, target: int, cursor: str = "", limit: int = 500) -> ResealPage: ...


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


def keyring_path(args: argparse.Namespace) -> Path:
    return Path(args.keyring) if args.keyring else data_dir(args.data_dir) / "master-keyring.json"


async def _reseal_all(client: KmsClient, limit: int) -> tuple[int, set[str]]:
    """One run over the KMS keys and every object shard: (seals re-sealed, master keys named)."""
    resealed, in_use = 0, set[str]()
    target, shards = KMS_KEYS, 0
    while target < shards:
        cursor, done = "", False
        while not done:
            page = await client.reseal_master_keys(target, cursor, limit)
            resealed += page.resealed
            in_use.update(page.in_use)
            cursor, done, shards = page.next_cursor, page.done, page.shards
        target += 1
    return resealed, in_use


async def kms_rotate_master(args: argparse.Namespace, client: KmsClient) -> int:
    path = keyring_path(args)
    keyring = Keyring.load(path)
    if not args.resume:
        keyring = keyring.rotated()
        keyring.save(path)
    deadline = time.monotonic() + args.timeout
    while (probe := await client.reseal_master_keys(KMS_KEYS, "", 1)).active != keyring.active:
        if time.monotonic() > deadline:
            error(f"the metadata service does not seal with {keyring.active} yet: is {path} its keyring?")
            return EXIT_REFUSED
        await asyncio.sleep(0.2)
    total, runs = probe.resealed, 0  # the probe re-sealed the first KMS key
    while True:
        resealed, in_use = await _reseal_all(client, args.page)
        total, runs = total + resealed, runs + 1
        if resealed == 0 and runs > 1:
            break
        await asyncio.sleep(args.grace)
    keyring = Keyring.load(path)
    retired = set() if args.keep_old else set(keyring.keys) - in_use - {keyring.active}
    if retired:
        keyring.without(retired).save(path)
    kept = sorted(in_use - {keyring.active})
    if args.json:
        emit_json(
            {"active": keyring.active, "resealed": total, "retired": sorted(retired), "still_used": kept}
        )
    else:
        print(f"active master key {keyring.active}; re-sealed {total} stored key(s)")
        print(f"retired: {', '.join(sorted(retired)) or '-'}")
        if kept:
            print(f"still named by seals that did not open (kept): {', '.join(kept)}")
    return 0


def _run(command: Any) -> Any:
    return partial(iam_cmds.run, command=cast(iam_cmds.Command, command))


def register(groups: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parents = [common, iam_cmds.metadata_target()]
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
    p = sub.add_parser(
        "rotate-master", parents=parents, help="new cluster master key; re-seal stored keys; retire the old"
    )
    p.add_argument("--keyring", help="the keyring file (default: master-keyring.json of --data-dir)")
    p.add_argument("--resume", action="store_true", help="go on with the active key (no new one)")
    p.add_argument("--keep-old", action="store_true", help="keep the old master keys in the file")
    p.add_argument("--page", type=int, default=500, help="rows per page (default 500)")
    p.add_argument(
        "--grace", type=float, default=30.0, help="seconds between runs for in-flight writes (default 30)"
    )
    p.set_defaults(func=_run(kms_rotate_master))
