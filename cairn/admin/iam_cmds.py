"""IAM commands: `user create|list|delete NAME`, `user policy ...` (policy_cmds.py) and
`key create|list|revoke|activate|delete`.

They talk to the metadata service found from `--metadata host:port`, or else from the entry with
role "metadata" in the cluster.json of a local cluster (`--data-dir`, CAIRN_DATA_DIR,
./cairn-data). Exit codes: 0 done; 1 the service refused (user exists, no such user, delete
conflict, ...); 2 no metadata service found, or it is unreachable / did not answer in time.
Every failure is one line on stderr; `--json` output goes to stdout only on success.

Invariants:
- A secret access key is printed once, by `key create`; no other command ever prints one.
- `user delete` refuses, like AWS IAM's DeleteConflict, while the user owns buckets (checked
  here: the metadata service does not tie buckets to users) or still has access keys or inline
  policies (checked by the service). The bucket check runs first and cannot be raced in
  practice: creating a bucket needs one of the user's keys, and any key makes the delete fail.
- `key revoke` only marks the key Inactive; the S3 API keeps a verified key for its credential
  cache TTL (api_service `credential_cache_ttl_s`, default 10 s), after which requests signed
  with it fail with InvalidAccessKeyId. `key activate` makes it Active again (accepted once the
  same TTL has passed). `key delete` removes it for good (needed before `user delete`).
- Revoking or deleting the root user's last active key, which would leave no way to sign a
  request as root, is refused without `--force`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from cairn.admin import policy_cmds
from cairn.admin.cli import EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from cairn.admin.output import emit_json, error, table, timestamp
from cairn.admin.target import TargetError, data_dir, local_processes, use_admin_identity
from cairn.metadata.client import (
    AccessKey,
    AccessKeyStatus,
    Bucket,
    DeleteConflict,
    MetadataClient,
    MetadataError,
    MetadataUnavailable,
    NoSuchUser,
    Policy,
    User,
)

#: How many users' keys `key list` (all users) fetches at once.
LIST_CONCURRENCY = 8
CACHE_NOTE = "the S3 API's credential cache TTL (default 10 s)"


class IamClient(Protocol):
    """The part of `cairn.metadata.client.MetadataClient` these commands use."""

    async def close(self) -> None: ...
    async def create_user(self, name: str) -> User: ...
    async def get_user(self, name: str) -> User: ...
    async def list_users(self) -> tuple[User, ...]: ...
    async def delete_user(self, name: str) -> None: ...
    async def create_access_key(self, user_name: str) -> AccessKey: ...
    async def get_access_key(self, access_key_id: str) -> AccessKey: ...
    async def list_access_keys(self, user_name: str) -> tuple[AccessKey, ...]: ...
    async def set_access_key_status(self, access_key_id: str, status: AccessKeyStatus) -> AccessKey: ...
    async def delete_access_key(self, access_key_id: str) -> None: ...
    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]: ...
    async def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None: ...
    async def get_user_policy(self, user_name: str, policy_name: str) -> Policy: ...
    async def list_user_policies(self, user_name: str) -> tuple[Policy, ...]: ...
    async def delete_user_policy(self, user_name: str, policy_name: str) -> None: ...


Command = Callable[[argparse.Namespace, IamClient], Awaitable[int]]


def connect(addr: str, deadline_s: float) -> IamClient:
    """The client the commands use (tests replace this with a fake)."""
    return MetadataClient(addr, deadline_s=deadline_s)


def metadata_target() -> argparse.ArgumentParser:
    """The `--metadata` option of the commands that talk to the metadata service."""
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "--metadata", metavar="HOST:PORT[,...]", help="metadata replicas (default: from cluster.json)"
    )
    return target


def register(groups: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parents = [common, metadata_target()]

    user = groups.add_parser("user", help="IAM users")
    sub = user.add_subparsers(dest="user_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("create", parents=parents, help="create a user (it has no access key yet)")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=partial(run, command=user_create))
    p = sub.add_parser("list", parents=parents, help="all users")
    p.set_defaults(func=partial(run, command=user_list))
    p = sub.add_parser(
        "delete", parents=parents, help="delete a user that owns no bucket and has no access key or policy"
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=partial(run, command=user_delete))
    policy_cmds.register(sub, parents, run)

    key = groups.add_parser("key", help="access keys")
    sub = key.add_subparsers(dest="key_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("create", parents=parents, help="new access key for USER (the secret is shown once)")
    p.add_argument("user", metavar="USER")
    p.set_defaults(func=partial(run, command=key_create))
    p = sub.add_parser("list", parents=parents, help="access keys of USER, or of every user (never secrets)")
    p.add_argument("user", metavar="USER", nargs="?")
    p.set_defaults(func=partial(run, command=key_list))
    p = sub.add_parser("revoke", parents=parents, help="make a key Inactive (S3 requests then fail)")
    p.add_argument("key_id", metavar="KEY_ID")
    p.add_argument("--force", action="store_true", help="even the root user's last active key")
    p.set_defaults(func=partial(run, command=key_revoke))
    p = sub.add_parser("activate", parents=parents, help="make a revoked (Inactive) key Active again")
    p.add_argument("key_id", metavar="KEY_ID")
    p.set_defaults(func=partial(run, command=key_activate))
    p = sub.add_parser("delete", parents=parents, help="delete a key for good")
    p.add_argument("key_id", metavar="KEY_ID")
    p.add_argument("--force", action="store_true", help="even the root user's last active key")
    p.set_defaults(func=partial(run, command=key_delete))


def metadata_addr(flag: str | None, data_dir_flag: str | None) -> str:
    """The metadata replicas' "host:port[,host:port...]": `--metadata`, else cluster.json's
    "metadata" processes."""
    if flag is not None:
        for addr in flag.strip().split(","):
            host, sep, port = addr.strip().rpartition(":")
            if not (sep and host and port.isdigit()):
                raise TargetError(f"--metadata needs host:port[,host:port...], got {flag!r}")
        return flag.strip()
    directory = data_dir(data_dir_flag)
    if not (directory / "cluster.json").exists():
        raise TargetError(
            f"no cluster found: {directory / 'cluster.json'} does not exist "
            "(pass --metadata host:port or --data-dir)"
        )
    addrs = [
        str(p["addr"]) for p in local_processes(directory) if p.get("role") == "metadata" and p.get("addr")
    ]
    if not addrs:
        raise TargetError(
            f"{directory / 'cluster.json'} lists no metadata process (pass --metadata host:port)"
        )
    return ",".join(addrs)


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def run(args: argparse.Namespace, command: Command) -> int:
    """Find the metadata service, run `command(args, client)`, map failures to exit codes."""
    try:
        addr = metadata_addr(args.metadata, args.data_dir)
        use_admin_identity(args.data_dir)
    except TargetError as exc:
        error(one_line(str(exc)))
        return EXIT_USAGE
    try:
        return asyncio.run(_with_client(args, addr, command))
    except MetadataUnavailable as exc:
        error(f"metadata service unreachable at {addr}: {one_line(exc.message)}")
        return EXIT_UNAVAILABLE
    except MetadataError as exc:
        error(f"{exc.reason}: {one_line(exc.message)}")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130


async def _with_client(args: argparse.Namespace, addr: str, command: Command) -> int:
    client = connect(addr, args.timeout)
    try:
        return await command(args, client)
    finally:
        await client.close()


def user_doc(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "user_id": user.user_id,
        "arn": user.arn,
        "is_root": user.is_root,
        "created_ms": user.created_ms,
        "created": timestamp(user.created_ms),
    }


def key_doc(key: AccessKey) -> dict[str, Any]:
    """A key without its secret."""
    return {
        "access_key_id": key.access_key_id,
        "user_name": key.user_name,
        "user_id": key.user_id,
        "status": str(key.status),
        "created_ms": key.created_ms,
        "created": timestamp(key.created_ms),
    }


# --- users -------------------------------------------------------------------------------------
async def user_create(args: argparse.Namespace, client: IamClient) -> int:
    user = await client.create_user(args.name)
    if args.json:
        emit_json(user_doc(user))
    else:
        print(f"created user {user.name} ({user.user_id}, {user.arn})")
        print(f"give it an access key with: cairn admin key create {user.name}")
    return 0


async def user_list(args: argparse.Namespace, client: IamClient) -> int:
    users = sorted(await client.list_users(), key=lambda u: u.name)
    if args.json:
        emit_json({"users": [user_doc(u) for u in users]})
        return 0
    rows = [(u.name, u.user_id, timestamp(u.created_ms), u.arn) for u in users]
    print(table(("NAME", "USER ID", "CREATED", "ARN"), rows))
    return 0


async def user_delete(args: argparse.Namespace, client: IamClient) -> int:
    user = await client.get_user(args.name)
    if user.is_root:
        error(f"DeleteConflict: {user.name} is the root user of the cluster and cannot be deleted")
        return EXIT_REFUSED
    buckets = sorted(b.name for b in await client.list_buckets(owner_id=user.user_id))
    if buckets:
        shown = ", ".join(buckets[:5]) + (f", ... ({len(buckets) - 5} more)" if len(buckets) > 5 else "")
        error(
            f"DeleteConflict: user {user.name} still owns {len(buckets)} bucket(s): {shown}; "
            "empty and delete them first"
        )
        return EXIT_REFUSED
    try:
        await client.delete_user(user.name)
    except DeleteConflict as exc:
        keys = await client.list_access_keys(user.name)
        if not keys:
            raise  # inline policies: the service's own message says so
        ids = ", ".join(k.access_key_id for k in keys)
        error(
            f"DeleteConflict: user {user.name} still has {len(keys)} access key(s): {ids}; "
            f"remove each with `cairn admin key delete KEY_ID` first ({one_line(exc.message)})"
        )
        return EXIT_REFUSED
    if args.json:
        emit_json({"name": user.name, "user_id": user.user_id, "deleted": True})
    else:
        print(f"deleted user {user.name} ({user.user_id})")
    return 0


# --- access keys -------------------------------------------------------------------------------
async def key_create(args: argparse.Namespace, client: IamClient) -> int:
    key = await client.create_access_key(args.user)
    if args.json:
        emit_json({**key_doc(key), "secret_access_key": key.secret_access_key})
        return 0
    print(f"created access key for {key.user_name}; the secret is shown only now, store it safely:")
    print(f"  AccessKeyId:     {key.access_key_id}")
    print(f"  SecretAccessKey: {key.secret_access_key}")
    return 0


async def _keys_of_everyone(client: IamClient) -> list[AccessKey]:
    users = await client.list_users()
    limit = asyncio.Semaphore(LIST_CONCURRENCY)

    async def keys_of(name: str) -> tuple[AccessKey, ...]:
        async with limit:
            try:
                return await client.list_access_keys(name)
            except NoSuchUser:  # deleted since list_users
                return ()

    batches = await asyncio.gather(*(keys_of(u.name) for u in users))
    return [k for batch in batches for k in batch]


async def key_list(args: argparse.Namespace, client: IamClient) -> int:
    found = await client.list_access_keys(args.user) if args.user else await _keys_of_everyone(client)
    keys = sorted(found, key=lambda k: (k.user_name, k.created_ms, k.access_key_id))
    if args.json:
        emit_json({"access_keys": [key_doc(k) for k in keys]})
        return 0
    rows = [(k.access_key_id, k.user_name, str(k.status), timestamp(k.created_ms)) for k in keys]
    print(table(("ACCESS KEY ID", "USER", "STATUS", "CREATED"), rows))
    return 0


async def _refuse_last_root_key(
    args: argparse.Namespace, client: IamClient, key: AccessKey, verb: str
) -> bool:
    """Print a refusal and return True when `key` is the root user's last active key and
    --force was not given."""
    if args.force or key.status != AccessKeyStatus.ACTIVE:
        return False
    if not (await client.get_user(key.user_name)).is_root:
        return False
    others = [
        k
        for k in await client.list_access_keys(key.user_name)
        if k.access_key_id != key.access_key_id and k.status == AccessKeyStatus.ACTIVE
    ]
    if others:
        return False
    error(
        f"{key.access_key_id} is the last active access key of the root user {key.user_name}: without it "
        f"no request can be signed as root. Pass --force to {verb} it anyway"
        + (f" (`cairn admin key activate {key.access_key_id}` undoes it)" if verb == "revoke" else "")
    )
    return True


async def key_revoke(args: argparse.Namespace, client: IamClient) -> int:
    if await _refuse_last_root_key(args, client, await client.get_access_key(args.key_id), "revoke"):
        return EXIT_REFUSED
    key = await client.set_access_key_status(args.key_id, AccessKeyStatus.INACTIVE)
    if args.json:
        emit_json(key_doc(key))
    else:
        print(
            f"access key {key.access_key_id} of {key.user_name}: {key.status}; S3 requests signed with it "
            f"fail with InvalidAccessKeyId once {CACHE_NOTE} has passed"
        )
    return 0


async def key_activate(args: argparse.Namespace, client: IamClient) -> int:
    key = await client.set_access_key_status(args.key_id, AccessKeyStatus.ACTIVE)
    if args.json:
        emit_json(key_doc(key))
    else:
        print(
            f"access key {key.access_key_id} of {key.user_name}: {key.status}; S3 requests signed with it "
            f"are accepted again once {CACHE_NOTE} has passed"
        )
    return 0


async def key_delete(args: argparse.Namespace, client: IamClient) -> int:
    key = await client.get_access_key(args.key_id)
    if await _refuse_last_root_key(args, client, key, "delete"):
        return EXIT_REFUSED
    await client.delete_access_key(key.access_key_id)
    if args.json:
        emit_json({**key_doc(key), "deleted": True})
    else:
        print(f"deleted access key {key.access_key_id} of {key.user_name}")
    return 0
