"""Deterministic bytes for dataclass values: store columns and replicated commands.

`dumps(value)` turns a (frozen) dataclass tree into canonical JSON bytes (sorted keys, no
spaces; bytes as base64 strings, enums as their values, tuples as lists); `loads(cls, data)`
rebuilds it guided by the type hints. The same value always encodes to the same bytes, which
is what lets every replica of a shard apply identical commands.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """A JSON-ready form of `value`."""
    encode = _ENCODERS.get(type(value))
    if encode is None:
        encode = _ENCODERS[type(value)] = _encoder(type(value))
    return encode(value)


#: One encoder per concrete type met (a handful of dataclasses, enums and builtins).
_ENCODERS: dict[type, Callable[[Any], Any]] = {}


#: Types whose values are their own JSON-ready form: a field or item of one of these types is
#: taken as it is, without a call to `to_plain` (most fields of a version's attributes are).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _encoder(cls: type) -> Callable[[Any], Any]:
    """How to encode values whose type is exactly `cls` (the cases of `to_plain`, in order)."""
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))

        def fields(value: Any) -> dict[str, Any]:
            out = {}
            for name in names:
                v = getattr(value, name)
                out[name] = v if type(v) in _PLAIN else to_plain(v)
            return out

        return fields
    if issubclass(cls, enum.Enum):
        return lambda value: value.value
    if issubclass(cls, bytes | bytearray | memoryview):
        return lambda value: base64.b64encode(bytes(value)).decode("ascii")
    if issubclass(cls, tuple | list):
        return lambda value: [v if type(v) in _PLAIN else to_plain(v) for v in value]
    if issubclass(cls, dict):
        return lambda value: {str(k): to_plain(v) for k, v in value.items()}
    if cls is type(None) or issubclass(cls, str | int | float | bool):
        return _same
    raise TypeError(f"cannot encode {cls.__name__}")


def _same(value: Any) -> Any:
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(hint: Any, data: Any) -> Any:
    """Rebuild a value of type `hint` from its JSON-ready form."""
    return _decoder(hint)(data)


@cache
def _decoder(hint: Any) -> Callable[[Any], Any]:
    """How to rebuild a value of type `hint`: worked out once per hint, not per value."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = _decoder([a for a in typing.get_args(hint) if a is not type(None)][0])
        if inner is _same:  # None is its own JSON-ready form too
            return _same
        return lambda data: None if data is None else inner(data)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            if item is _same:
                return tuple
            return lambda data: tuple([item(v) for v in data])
        items = tuple(_decoder(a) for a in args)
        return lambda data: tuple([d(v) for d, v in zip(items, data, strict=True)])
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if hint is bytes:
        return binascii.a2b_base64  # what base64.b64decode runs, without its wrapping
    if hint is float:
        return lambda data: float(data) if isinstance(data, int) else data
    return _same


def _dataclass_decoder(cls: type) -> Callable[[Any], Any]:
    # Field decoders are looked up at the first call, so a dataclass may refer to itself.
    # A field whose JSON form is its value (`_same`: strings, numbers, None) is taken as it is.
    fields: dict[str, Callable[[Any], Any] | None] | None = None

    def decode(data: Any) -> Any:
        nonlocal fields
        if fields is None:
            decoders = {k: _decoder(h) for k, h in _hints(cls).items()}
            fields = {k: None if d is _same else d for k, d in decoders.items()}
        known = fields
        kwargs = {}
        for k, v in data.items():
            if k in known:
                field = known[k]
                kwargs[k] = v if field is None else field(v)
        return cls(**kwargs)

    return decode


def dumps(value: Any) -> bytes:
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def loads(cls: type[T], data: bytes | str) -> T:
    return typing.cast(T, from_plain(cls, json.loads(data)))
