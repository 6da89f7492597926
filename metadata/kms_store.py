"""The KMS key store's rows in the catalog shard (table `kms_keys`): reads and the appliers of
CreateKmsKey, SetKmsKeyEnabled and ResealKmsKey (called by catalog.apply_catalog)."""

from __future__ import annotations

import sqlite3
from typing import Any

from cairn import sse_crypto
from cairn.metadata import commands as c
from cairn.metadata.errors import KmsAliasExists, NoSuchKmsKey
from cairn.metadata.models import KmsKey

_COLS = "key_id, arn, alias, description, enabled, created_ms, sealed_material"


def _key(row: tuple[Any, ...]) -> KmsKey:
    sealed = bytes(row[6])
    master, _ = sse_crypto.parse_sealed(sealed)
    return KmsKey(row[0], row[1], row[2] or "", row[3], bool(row[4]), row[5], sealed, master)


def read_key(conn: sqlite3.Connection, key_id: str) -> KmsKey:
    row = conn.execute(f"SELECT {_COLS} FROM kms_keys WHERE key_id = ?", (key_id,)).fetchone()
    if row is None:
        raise NoSuchKmsKey(f"Key '{key_id}' does not exist")
    return _key(row)


def read_alias(conn: sqlite3.Connection, alias: str) -> KmsKey:
    row = conn.execute(f"SELECT {_COLS} FROM kms_keys WHERE alias = ?", (alias,)).fetchone()
    if row is None:
        raise NoSuchKmsKey(f"Alias 'alias/{alias}' does not exist")
    return _key(row)


def read_keys(conn: sqlite3.Connection) -> list[KmsKey]:
    return [_key(r) for r in conn.execute(f"SELECT {_COLS} FROM kms_keys ORDER BY created_ms, key_id")]


def read_page(conn: sqlite3.Connection, after: str, limit: int) -> list[KmsKey]:
    """Up to `limit` keys in key id order after `after` (re-sealing walks them in pages)."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM kms_keys WHERE key_id > ? ORDER BY key_id LIMIT ?", (after, limit)
    )
    return [_key(r) for r in rows]


def apply(conn: sqlite3.Connection, cmd: Any) -> Any:
    match cmd:
        case c.CreateKmsKey():
            if cmd.alias:
                row = conn.execute("SELECT key_id FROM kms_keys WHERE alias = ?", (cmd.alias,)).fetchone()
                if row is not None:
                    if cmd.existing_alias_ok:
                        return read_key(conn, row[0])
                    raise KmsAliasExists(f"An alias with the name alias/{cmd.alias} already exists")
            conn.execute(
                f"INSERT INTO kms_keys ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    cmd.key_id,
                    cmd.arn,
                    cmd.alias or None,
                    cmd.description,
                    1,
                    cmd.now_ms,
                    cmd.sealed_material,
                ),
            )
            return read_key(conn, cmd.key_id)
        case c.SetKmsKeyEnabled():
            cur = conn.execute(
                "UPDATE kms_keys SET enabled = ? WHERE key_id = ?", (int(cmd.enabled), cmd.key_id)
            )
            if cur.rowcount == 0:
                raise NoSuchKmsKey(f"Key '{cmd.key_id}' does not exist")
            return read_key(conn, cmd.key_id)
        case c.ResealKmsKey():
            cur = conn.execute(
                "UPDATE kms_keys SET sealed_material = ? WHERE key_id = ? AND sealed_material = ?",
                (cmd.sealed_material, cmd.key_id, cmd.expected),
            )
            return cur.rowcount == 1
    raise TypeError(f"not a KMS command: {type(cmd).__name__}")
