"""Deterministic bytes for dataclass values: store columns and replicated commands.

`dumps(value)` turns a (frozen) dataclass tree into canonical JSON bytes (sorted keys, no
spaces; bytes as base64 strings, enums as their values, tuples as lists); `loads(cls, data)`
rebuilds it guided by the type hints. The same value always encodes to the same bytes, which
is what lets every replica of a shard apply identical commands.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """A JSON-ready form of `value`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(hint: Any, data: Any) -> Any:
    """Rebuild a value of type `hint` from its JSON-ready form."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if data is None:
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return from_plain(inner[0], data)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v) for v in data)
        return tuple(from_plain(a, v) for a, v in zip(args, data, strict=True))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        return hint(**{k: from_plain(hints[k], v) for k, v in data.items() if k in hints})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    if hint is bytes:
        return base64.b64decode(data)
    if hint is float and isinstance(data, int):
        return float(data)
    return data


def dumps(value: Any) -> bytes:
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def loads(cls: type[T], data: bytes | str) -> T:
    return typing.cast(T, from_plain(cls, json.loads(data)))
