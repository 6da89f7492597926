"""canonical_json: the per-type codecs give exactly the bytes and values of the plain rules.

Every replica must turn the same value into the same bytes, so the codecs that are worked out
once per type are checked against a straightforward reading of the rules (the module's
docstring), written out here, on every kind of field the metadata models use.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import types
import typing
from typing import Any

import pytest

from cairn.metadata import canonical_json
from cairn.metadata.objects import VersionBody

from .test_commands import ATTRS, SAMPLES


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Leaf:
    name: str
    raw: bytes
    ratio: float
    color: Color
    level: Level
    flag: bool


@dataclasses.dataclass(frozen=True)
class Tree:
    leaf: Leaf | None
    leaves: tuple[Leaf, ...]
    pair: tuple[int, str]
    labels: dict[str, int]
    children: tuple[Tree, ...] = ()
    parent: Tree | None = None
    note: typing.Optional[str] = None  # noqa: UP045 - the typing.Union spelling, on purpose


LEAF = Leaf("a", b"\x00\xffbytes", 2.5, Color.BLUE, Level.HIGH, True)
TREE = Tree(
    leaf=LEAF,
    leaves=(LEAF, Leaf("b", b"", 3.0, Color.RED, Level.LOW, False)),
    pair=(7, "x"),
    labels={"k": 1},
    children=(Tree(None, (), (1, "y"), {}, parent=Tree(LEAF, (), (0, ""), {"z": 2}, note="n")),),
)
VALUES: list[Any] = [LEAF, TREE, ATTRS, VersionBody(ATTRS, 3, (5, 5, 1)), *SAMPLES]


def plain_to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, tuple | list):
        return [plain_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_to_plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(type(value).__name__)


def plain_from_plain(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if data is None:
            return None
        return plain_from_plain([a for a in typing.get_args(hint) if a is not type(None)][0], data)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(plain_from_plain(args[0], v) for v in data)
        return tuple(plain_from_plain(a, v) for a, v in zip(args, data, strict=True))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{k: plain_from_plain(hints[k], v) for k, v in data.items() if k in hints})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    if hint is bytes:
        return base64.b64decode(data)
    if hint is float and isinstance(data, int):
        return float(data)
    return data


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_bytes_and_values_are_those_of_the_plain_rules(value: Any) -> None:
    expected = json.dumps(plain_to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = canonical_json.dumps(value)
    assert data == expected.encode()
    cls = type(value)
    assert canonical_json.loads(cls, data) == plain_from_plain(cls, json.loads(data)) == value
    assert canonical_json.dumps(canonical_json.loads(cls, data)) == data  # and again, from the cache


def test_a_float_field_given_as_an_integer_is_a_float() -> None:
    doc = plain_to_plain(LEAF) | {"ratio": 3}
    got = canonical_json.from_plain(Leaf, doc)
    assert got.ratio == 3.0 and isinstance(got.ratio, float)


def test_unknown_fields_are_ignored_and_other_types_refused() -> None:
    doc = plain_to_plain(LEAF) | {"added_later": 1}
    assert canonical_json.from_plain(Leaf, doc) == LEAF
    for bad in ({1, 2}, object(), Leaf):
        with pytest.raises(TypeError):
            canonical_json.dumps(bad)
