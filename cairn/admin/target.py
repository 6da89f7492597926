"""Finding the cluster an admin command talks to.

Order: `--placement host:port,...`; else the `cluster.json` of a local cluster in `--data-dir`, the
CAIRN_DATA_DIR environment variable, or `./cairn-data`. cluster.json holds a "processes" list of
objects with role/id/pid/addr/data_dir; the entries with role "placement" are the replicas.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_DATA_DIR = "./cairn-data"


class TargetError(Exception):
    """No cluster could be found from the flags, the environment or a local cluster.json."""


def data_dir(flag: str | None) -> Path:
    return Path(flag or os.environ.get("CAIRN_DATA_DIR") or DEFAULT_DATA_DIR)


def local_processes(directory: Path) -> list[dict[str, object]]:
    """The "processes" of a local cluster's cluster.json (TargetError if missing or unreadable)."""
    path = directory / "cluster.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"no cluster found: {path} does not exist (pass --placement host:port,... or --data-dir)"
        ) from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from None
    processes = doc.get("processes") if isinstance(doc, dict) else None
    if not isinstance(processes, list):
        raise TargetError(f'{path} has no "processes" list')
    return [p for p in processes if isinstance(p, dict)]


def placement_addrs(placement: str | None, data_dir_flag: str | None) -> list[str]:
    """The placement replicas' "host:port" addresses."""
    if placement:
        addrs = [a.strip() for a in placement.split(",") if a.strip()]
        if not addrs:
            raise TargetError("--placement needs at least one host:port")
        return addrs
    directory = data_dir(data_dir_flag)
    addrs = [
        str(p["addr"]) for p in local_processes(directory) if p.get("role") == "placement" and p.get("addr")
    ]
    if not addrs:
        raise TargetError(f"{directory / 'cluster.json'} lists no placement process")
    return addrs
