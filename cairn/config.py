"""Loading a service's configuration: one frozen dataclass tree, read once, validated at load.

Sources, later ones winning: the dataclass defaults, a TOML file, `CAIRN_<PREFIX>_<FIELD>`
environment variables (nested fields joined by `_`, e.g. `CAIRN_DATANODE_HEARTBEAT_INTERVAL_S`),
then explicit overrides (command-line flags). Every field's default is written once, on the
field. A nested dataclass field's default may differ from its class's defaults (metadata's
`raft` turns lease reads on); keys given for it are applied on top of that default, one by one.
A service validates its own invariants in `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type, or violates an invariant."""


def load(
    cls: type[T],
    path: Path | str | None = None,
    *,
    env_prefix: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build `cls` (a dataclass) from defaults, `path`, the environment and `overrides`.

    `overrides` keys are dotted field paths ("heartbeat.interval_s"); None values are ignored
    so argparse results can be passed straight through.
    """
    data: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    env = os.environ if environ is None else environ
    prefix = f"CAIRN_{env_prefix.upper()}_"
    for dotted in _field_paths(cls):
        name = prefix + dotted.replace(".", "_").upper()
        if name in env:
            _set_dotted(data, dotted, env[name])
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    return _build(cls, data, "")


def _field_paths(cls: type, base: str = "") -> list[str]:
    paths: list[str] = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[field.name]
        dotted = f"{base}{field.name}"
        if dataclasses.is_dataclass(hint):
            paths.extend(_field_paths(hint, dotted + "."))  # type: ignore[arg-type]
        else:
            paths.append(dotted)
    return paths


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _build(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown config keys at {where or 'top level'}: {sorted(unknown)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for name, raw in data.items():
        hint, fld = hints[name], fields[name]
        base: Any = None
        if dataclasses.is_dataclass(hint):
            factory = fld.default_factory
            base = factory() if callable(factory) else fld.default  # (MISSING is not callable)
        if dataclasses.is_dataclass(base) and not isinstance(base, type):
            # A nested table overrides the field's own default (which may differ from the
            # nested class's defaults, e.g. metadata's raft with lease reads on), key by key.
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{where}{name}: expected a table")
            changed = _build(hint, raw, f"{where}{name}.")  # type: ignore[arg-type]
            try:
                kwargs[name] = dataclasses.replace(base, **{k: getattr(changed, k) for k in raw})
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"invalid config at {where}{name}: {exc}") from exc
        else:
            kwargs[name] = _coerce(hint, raw, f"{where}{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid config at {where or 'top level'}: {exc}") from exc


def _coerce(hint: Any, raw: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a table")
        return _build(hint, raw, where + ".")  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if raw is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], raw, where)
    if origin in (tuple, list):
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        elem = args[0] if args else str
        coerced = [_coerce(elem, item.strip() if isinstance(item, str) else item, where) for item in items]
        return tuple(coerced) if origin is tuple else coerced
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if isinstance(raw, str):
            pairs = [p.split("=", 1) for p in raw.split(",") if p]
            return {k.strip(): v.strip() for k, v in pairs}
        return dict(raw)
    try:
        if hint is bool:
            if isinstance(raw, str):
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(raw)
            return bool(raw)
        if hint is Path:
            return Path(raw)
        if hint in (int, float, str):
            return hint(raw)
        if isinstance(hint, type) and hasattr(hint, "__members__"):  # enums
            return hint(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read {raw!r} as {getattr(hint, '__name__', hint)}") from exc
    return raw
