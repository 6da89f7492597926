"""Copying between the metadata dataclasses and protobuf messages, field by field, by name.

The messages of proto/metadata.proto use the same field names as the dataclasses of
`models`, so one pair of functions converts every type, driven by the dataclass type hints
and the message descriptor. This module never imports generated code: it works on whatever
message instance it is handed (the servicer and the client own the stubs).

Mapping: dataclass <-> message; tuple/Sequence <-> repeated (pairs of strings <-> repeated
KeyValue); enum <-> its string value; `X | None` <-> a proto3 `optional` field (absent is
None); bytes, str, int, float, bool as themselves.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import types
import typing
from functools import cache
from typing import Any


@cache
def _hints(target: Any) -> dict[str, Any]:
    return typing.get_type_hints(target)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def set_field(msg: Any, name: str, value: Any) -> None:
    """Store `value` (a dataclass, sequence or scalar) in field `name` of `msg`."""
    if value is None:
        return
    fd = msg.DESCRIPTOR.fields_by_name[name]
    if fd.is_repeated:
        container = getattr(msg, name)
        for item in value:
            if fd.message_type is None:
                container.append(_plain(item))
            elif dataclasses.is_dataclass(item):
                fill(container.add(), item)
            else:  # a (key, value) pair
                pair = container.add()
                pair.key, pair.value = item
    elif fd.message_type is not None:
        fill(getattr(msg, name), value)
    else:
        setattr(msg, name, _plain(value))


def fill(msg: Any, obj: Any) -> Any:
    """Copy every field of dataclass `obj` into `msg`; returns `msg`."""
    for f in dataclasses.fields(obj):
        set_field(msg, f.name, getattr(obj, f.name))
    return msg


def _scalar(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if hint is bytes:
        return bytes(value)
    if hint is float:
        return float(value)
    if hint is int:
        return int(value)
    return value


def get_field(msg: Any, name: str, hint: Any) -> Any:
    """Read field `name` of `msg` as a value of type `hint`."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if msg.DESCRIPTOR.fields_by_name[name].has_presence and not msg.HasField(name):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    value = getattr(msg, name)
    if origin in (tuple, list, collections.abc.Sequence):
        elem = typing.get_args(hint)[0]
        if typing.get_origin(elem) is tuple:
            return tuple((item.key, item.value) for item in value)
        if isinstance(elem, type) and dataclasses.is_dataclass(elem):
            return tuple(read(item, elem) for item in value)
        return tuple(_scalar(elem, item) for item in value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return read(value, hint)
    return _scalar(hint, value)


def read(msg: Any, cls: type) -> Any:
    """Build dataclass `cls` from message `msg`."""
    hints = _hints(cls)
    fields = msg.DESCRIPTOR.fields_by_name
    return cls(
        **{f.name: get_field(msg, f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.name in fields}
    )


def call_args(msg: Any, fn: Any) -> dict[str, Any]:
    """Keyword arguments for `fn` taken from the same-named fields of request `msg`."""
    hints = _hints(fn)
    fields = msg.DESCRIPTOR.fields_by_name
    return {
        name: get_field(msg, name, hint)
        for name, hint in hints.items()
        if name != "return" and name in fields
    }
