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
from collections.abc import Callable
from functools import cache
from typing import Any


@cache
def _hints(target: Any) -> dict[str, Any]:
    return typing.get_type_hints(target)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(hint without `| None`, whether it was optional)."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return next(a for a in typing.get_args(hint) if a is not type(None)), True
    return hint, False


def _is_sequence(hint: Any) -> bool:
    return typing.get_origin(hint) in (tuple, list, collections.abc.Sequence)


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _scalar_reader(hint: Any) -> Callable[[Any], Any]:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if hint in (bytes, float, int):
        return hint  # type: ignore[no-any-return]
    return lambda v: v


def _value_reader(hint: Any) -> Callable[[Any], Any]:
    """Converts a field's raw protobuf value to a value of type `hint`."""
    if _is_sequence(hint):
        elem = typing.get_args(hint)[0]
        if typing.get_origin(elem) is tuple:
            return lambda v: tuple((i.key, i.value) for i in v)
        if _is_dataclass_type(elem):
            return lambda v: tuple(read(i, elem) for i in v)
        scalar = _scalar_reader(elem)
        return lambda v: tuple(scalar(i) for i in v)
    if _is_dataclass_type(hint):
        return lambda v: read(v, hint)
    return _scalar_reader(hint)


def _field_reader(name: str, hint: Any, fd: Any) -> Callable[[Any], Any]:
    inner, optional = _unwrap(hint)
    convert = _value_reader(inner)
    if optional and fd.has_presence:
        return lambda msg: convert(getattr(msg, name)) if msg.HasField(name) else None
    return lambda msg: convert(getattr(msg, name))


@cache
def _readers(cls: type, descriptor: Any) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = _hints(cls)
    fields = descriptor.fields_by_name
    return tuple(
        (f.name, _field_reader(f.name, hints[f.name], fields[f.name]))
        for f in dataclasses.fields(cls)
        if f.name in fields
    )


def _field_writer(name: str, fd: Any) -> Callable[[Any, Any], None]:
    if fd.is_repeated:
        if fd.message_type is None:
            return lambda msg, value: getattr(msg, name).extend([_plain(v) for v in value])

        def repeated(msg: Any, value: Any) -> None:
            container = getattr(msg, name)
            for item in value:
                if isinstance(item, tuple):  # a (key, value) pair
                    container.add(key=item[0], value=item[1])
                else:
                    fill(container.add(), item)

        return repeated
    if fd.message_type is not None:
        return lambda msg, value: fill(getattr(msg, name), value)
    return lambda msg, value: setattr(msg, name, _plain(value))


@cache
def _writers(descriptor: Any, name: str) -> Callable[[Any, Any], None]:
    return _field_writer(name, descriptor.fields_by_name[name])


def set_field(msg: Any, name: str, value: Any) -> None:
    """Store `value` (a dataclass, sequence or scalar) in field `name` of `msg`."""
    if value is not None:
        _writers(msg.DESCRIPTOR, name)(msg, value)


def fill(msg: Any, obj: Any) -> Any:
    """Copy every field of dataclass `obj` into `msg`; returns `msg`."""
    descriptor = msg.DESCRIPTOR
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is not None:
            _writers(descriptor, f.name)(msg, value)
    return msg


def get_field(msg: Any, name: str, hint: Any) -> Any:
    """Read field `name` of `msg` as a value of type `hint`."""
    return _field_reader(name, hint, msg.DESCRIPTOR.fields_by_name[name])(msg)


def read(msg: Any, cls: type) -> Any:
    """Build dataclass `cls` from message `msg`."""
    return cls(**{name: reader(msg) for name, reader in _readers(cls, msg.DESCRIPTOR)})


def call_args(msg: Any, fn: Any) -> dict[str, Any]:
    """Keyword arguments for `fn` taken from the same-named fields of request `msg`."""
    hints = _hints(fn)
    fields = msg.DESCRIPTOR.fields_by_name
    return {
        name: get_field(msg, name, hint)
        for name, hint in hints.items()
        if name != "return" and name in fields
    }
