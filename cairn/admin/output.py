"""Rendering admin command results: aligned text tables, JSON, human sizes and ages, one-line errors."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "") -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(indent + line for line in lines)


def emit_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True))


def error(message: str) -> None:
    """One line on stderr, prefixed with the command name."""
    print(f"cairn admin: {message}", file=sys.stderr)


def timestamp(ms: int) -> str:
    """Epoch milliseconds as `YYYY-MM-DDTHH:MM:SSZ`; `-` for none."""
    if ms <= 0:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def usage(used: int, capacity: int) -> str:
    pct = f"{100 * used / capacity:.0f}%" if capacity > 0 else "-"
    return f"{size(used)} / {size(capacity)} ({pct})"


def age(last_ms: int, now_ms: int) -> str:
    if last_ms <= 0:
        return "never"
    seconds = max(0.0, (now_ms - last_ms) / 1000)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"
