"""The catalog shard: buckets (with their versioning state, policy and configuration documents),
IAM records and the repair queue (repair_queue.py).

`apply_catalog(conn, command)` is the only function that mutates the catalog; it runs inside
the shard's transaction and raises typed errors (which roll the transaction back). The
`read_*` functions are plain queries run on the shard thread. Versioning moves
Unversioned -> Enabled <-> Suspended (or Unversioned -> Suspended) and never back.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cairn.metadata import commands as c
from cairn.metadata import kms_store, repair_queue
from cairn.metadata.errors import (
    AccessKeyAlreadyExists,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    DeleteConflict,
    InvalidArgument,
    NoSuchAccessKey,
    NoSuchBucket,
    NoSuchPolicy,
    NoSuchUser,
    UserAlreadyExists,
)
from cairn.metadata.models import (
    AccessKey,
    AccessKeyStatus,
    Bucket,
    BucketConfig,
    BucketContext,
    Policy,
    User,
    VersioningState,
)

_BUCKET_COLS = "name, id, owner_id, versioning, created_ms, region"
_KEY_COLS = "k.access_key_id, k.secret, k.user_id, u.name, k.status, k.created_ms"


def _bucket(row: tuple[Any, ...]) -> Bucket:
    return Bucket(row[0], row[1], row[2], VersioningState(row[3]), row[4], row[5])


def _user(row: tuple[Any, ...]) -> User:
    return User(row[0], row[1], row[2], row[3], bool(row[4]))


def _key(row: tuple[Any, ...]) -> AccessKey:
    return AccessKey(row[0], row[1], row[2], row[3], AccessKeyStatus(row[4]), row[5])


# --- reads -------------------------------------------------------------------------------
def read_bucket(conn: sqlite3.Connection, name: str) -> Bucket:
    row = conn.execute(f"SELECT {_BUCKET_COLS} FROM buckets WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NoSuchBucket(f"bucket {name!r} does not exist")
    return _bucket(row)


def find_bucket(conn: sqlite3.Connection, name: str) -> Bucket | None:
    row = conn.execute(f"SELECT {_BUCKET_COLS} FROM buckets WHERE name = ?", (name,)).fetchone()
    return None if row is None else _bucket(row)


def read_buckets(conn: sqlite3.Connection) -> list[Bucket]:
    return [_bucket(r) for r in conn.execute(f"SELECT {_BUCKET_COLS} FROM buckets ORDER BY name")]


def read_bucket_policy(conn: sqlite3.Connection, name: str) -> Policy | None:
    row = conn.execute("SELECT policy, policy_updated_ms FROM buckets WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NoSuchBucket(f"bucket {name!r} does not exist")
    return None if row[0] is None else Policy("", row[0], row[1])


def read_bucket_config(conn: sqlite3.Connection, name: str, kind: str) -> BucketConfig | None:
    bucket = read_bucket(conn, name)
    row = conn.execute(
        "SELECT document, updated_ms FROM bucket_configs WHERE bucket_id = ? AND kind = ?", (bucket.id, kind)
    ).fetchone()
    return None if row is None else BucketConfig(name, kind, row[0], row[1])


def read_bucket_context(conn: sqlite3.Connection, bucket: Bucket) -> BucketContext:
    """`bucket` with its policy and every configuration document, from one snapshot."""
    row = conn.execute("SELECT policy FROM buckets WHERE id = ?", (bucket.id,)).fetchone()
    if row is None:
        raise NoSuchBucket(f"bucket {bucket.name!r} does not exist")
    rows = conn.execute(
        "SELECT kind, document FROM bucket_configs WHERE bucket_id = ? ORDER BY kind", (bucket.id,)
    ).fetchall()
    return BucketContext(bucket, row[0], tuple((r[0], r[1]) for r in rows))


def read_bucket_configs(conn: sqlite3.Connection, kind: str) -> list[BucketConfig]:
    """Every bucket's document of one kind, by bucket name."""
    rows = conn.execute(
        "SELECT b.name, c.document, c.updated_ms FROM bucket_configs c JOIN buckets b ON b.id = c.bucket_id "
        "WHERE c.kind = ? ORDER BY b.name",
        (kind,),
    )
    return [BucketConfig(r[0], kind, r[1], r[2]) for r in rows]


def read_user(conn: sqlite3.Connection, name: str) -> User:
    row = conn.execute(
        "SELECT user_id, name, arn, created_ms, is_root FROM users WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise NoSuchUser(f"user {name!r} does not exist")
    return _user(row)


def read_users(conn: sqlite3.Connection) -> list[User]:
    rows = conn.execute("SELECT user_id, name, arn, created_ms, is_root FROM users ORDER BY name")
    return [_user(r) for r in rows]


def read_access_key(conn: sqlite3.Connection, access_key_id: str) -> AccessKey:
    row = conn.execute(
        f"SELECT {_KEY_COLS} FROM access_keys k JOIN users u ON u.user_id = k.user_id "
        "WHERE k.access_key_id = ?",
        (access_key_id,),
    ).fetchone()
    if row is None:
        raise NoSuchAccessKey(f"access key {access_key_id!r} does not exist")
    return _key(row)


def read_access_keys(conn: sqlite3.Connection, user_name: str) -> list[AccessKey]:
    user = read_user(conn, user_name)
    rows = conn.execute(
        f"SELECT {_KEY_COLS} FROM access_keys k JOIN users u ON u.user_id = k.user_id "
        "WHERE k.user_id = ? ORDER BY k.created_ms, k.access_key_id",
        (user.user_id,),
    )
    return [_key(r) for r in rows]


def read_user_policies(conn: sqlite3.Connection, user_name: str) -> list[Policy]:
    user = read_user(conn, user_name)
    rows = conn.execute(
        "SELECT name, document, updated_ms FROM user_policies WHERE user_id = ? ORDER BY name",
        (user.user_id,),
    )
    return [Policy(r[0], r[1], r[2]) for r in rows]


# --- mutations ---------------------------------------------------------------------------
def apply_catalog(conn: sqlite3.Connection, cmd: Any) -> Any:
    """Apply one catalog command; returns its result value."""
    match cmd:
        case c.CreateBucket():
            row = conn.execute("SELECT owner_id FROM buckets WHERE name = ?", (cmd.name,)).fetchone()
            if row is not None:
                if row[0] == cmd.owner_id:
                    raise BucketAlreadyOwnedByYou(f"you already own bucket {cmd.name!r}")
                raise BucketAlreadyExists(f"bucket name {cmd.name!r} is taken")
            conn.execute(
                f"INSERT INTO buckets ({_BUCKET_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    cmd.name,
                    cmd.bucket_id,
                    cmd.owner_id,
                    VersioningState.UNVERSIONED.value,
                    cmd.now_ms,
                    cmd.region,
                ),
            )
            return read_bucket(conn, cmd.name)
        case c.DeleteBucket():
            cur = conn.execute("DELETE FROM buckets WHERE name = ? AND id = ?", (cmd.name, cmd.bucket_id))
            if cur.rowcount == 0:
                raise NoSuchBucket(f"bucket {cmd.name!r} does not exist")
            conn.execute("DELETE FROM bucket_configs WHERE bucket_id = ?", (cmd.bucket_id,))
            return None
        case c.SetVersioning():
            if cmd.state is VersioningState.UNVERSIONED:
                raise InvalidArgument("versioning can only be Enabled or Suspended")
            read_bucket(conn, cmd.name)
            conn.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (cmd.state.value, cmd.name))
            return read_bucket(conn, cmd.name)
        case c.PutBucketPolicy():
            cur = conn.execute(
                "UPDATE buckets SET policy = ?, policy_updated_ms = ? WHERE name = ?",
                (cmd.document, cmd.now_ms, cmd.name),
            )
            if cur.rowcount == 0:
                raise NoSuchBucket(f"bucket {cmd.name!r} does not exist")
            return None
        case c.PutBucketConfig():
            bucket = read_bucket(conn, cmd.name)
            if cmd.document is None:
                conn.execute(
                    "DELETE FROM bucket_configs WHERE bucket_id = ? AND kind = ?", (bucket.id, cmd.kind)
                )
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO bucket_configs (bucket_id, kind, document, updated_ms) "
                    "VALUES (?, ?, ?, ?)",
                    (bucket.id, cmd.kind, cmd.document, cmd.now_ms),
                )
            return None
        case c.CreateUser():
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (cmd.name,)).fetchone():
                raise UserAlreadyExists(f"user {cmd.name!r} exists")
            conn.execute(
                "INSERT INTO users (user_id, name, arn, created_ms, is_root) VALUES (?, ?, ?, ?, ?)",
                (cmd.user_id, cmd.name, cmd.arn, cmd.now_ms, int(cmd.is_root)),
            )
            return read_user(conn, cmd.name)
        case c.DeleteUser():
            user = read_user(conn, cmd.name)
            for table in ("access_keys", "user_policies"):
                if conn.execute(f"SELECT 1 FROM {table} WHERE user_id = ?", (user.user_id,)).fetchone():
                    raise DeleteConflict(f"user {cmd.name!r} still has {table.replace('_', ' ')}")
            conn.execute("DELETE FROM users WHERE user_id = ?", (user.user_id,))
            return None
        case c.CreateAccessKey():
            user = read_user(conn, cmd.user_name)
            if conn.execute(
                "SELECT 1 FROM access_keys WHERE access_key_id = ?", (cmd.access_key_id,)
            ).fetchone():
                raise AccessKeyAlreadyExists(f"access key {cmd.access_key_id!r} exists")
            conn.execute(
                "INSERT INTO access_keys (access_key_id, secret, user_id, status, created_ms) VALUES (?, ?, ?, ?, ?)",
                (
                    cmd.access_key_id,
                    cmd.secret_access_key,
                    user.user_id,
                    AccessKeyStatus.ACTIVE.value,
                    cmd.now_ms,
                ),
            )
            return read_access_key(conn, cmd.access_key_id)
        case c.SetAccessKeyStatus():
            cur = conn.execute(
                "UPDATE access_keys SET status = ? WHERE access_key_id = ?",
                (cmd.status.value, cmd.access_key_id),
            )
            if cur.rowcount == 0:
                raise NoSuchAccessKey(f"access key {cmd.access_key_id!r} does not exist")
            return read_access_key(conn, cmd.access_key_id)
        case c.DeleteAccessKey():
            cur = conn.execute("DELETE FROM access_keys WHERE access_key_id = ?", (cmd.access_key_id,))
            if cur.rowcount == 0:
                raise NoSuchAccessKey(f"access key {cmd.access_key_id!r} does not exist")
            return None
        case c.PutUserPolicy():
            user = read_user(conn, cmd.user_name)
            if cmd.document is None:
                cur = conn.execute(
                    "DELETE FROM user_policies WHERE user_id = ? AND name = ?",
                    (user.user_id, cmd.policy_name),
                )
                if cur.rowcount == 0:
                    raise NoSuchPolicy(f"user {cmd.user_name!r} has no policy {cmd.policy_name!r}")
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO user_policies (user_id, name, document, updated_ms) VALUES (?, ?, ?, ?)",
                    (user.user_id, cmd.policy_name, cmd.document, cmd.now_ms),
                )
            return None
        case c.EnsureRoot():
            return _ensure_root(conn, cmd)
        case c.QueueRepairs():
            return repair_queue.queue(conn, cmd)
        case c.AckRepairs():
            return repair_queue.ack(conn, cmd)
        case c.CreateKmsKey() | c.SetKmsKeyEnabled() | c.ResealKmsKey():
            return kms_store.apply(conn, cmd)
    raise TypeError(f"not a catalog command: {type(cmd).__name__}")


def _ensure_root(conn: sqlite3.Connection, cmd: c.EnsureRoot) -> AccessKey:
    row = conn.execute("SELECT user_id FROM users WHERE name = ?", (cmd.name,)).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO users (user_id, name, arn, created_ms, is_root) VALUES (?, ?, ?, ?, 1)",
            (cmd.user_id, cmd.name, cmd.arn, cmd.now_ms),
        )
        user_id = cmd.user_id
    else:
        user_id = row[0]
        conn.execute("UPDATE users SET is_root = 1 WHERE user_id = ?", (user_id,))
    conn.execute(
        "INSERT INTO access_keys (access_key_id, secret, user_id, status, created_ms) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (access_key_id) DO UPDATE SET secret = excluded.secret, user_id = excluded.user_id, "
        "status = excluded.status",
        (cmd.access_key_id, cmd.secret_access_key, user_id, AccessKeyStatus.ACTIVE.value, cmd.now_ms),
    )
    return read_access_key(conn, cmd.access_key_id)
