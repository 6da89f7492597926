"""Finding the cluster an admin command talks to.

Order: `--placement host:port,...`; else the `cluster.json` of a local cluster in `--data-dir`, the
CAIRN_DATA_DIR environment variable, or `./cairn-data`. cluster.json holds a "processes" list of
objects with role/id/pid/addr/data_dir; the entries with role "placement" are the replicas.

The admin's certificate (cairn.mtls): CAIRN_RPC_CA/CERT/KEY if set, else the local cluster's
`admin-cert.pem` and `admin-key.pem` next to its credentials.json, with its `pki/ca.pem`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_DATA_DIR = "./cairn-data"


class TargetError(Exception):
    """No cluster could be found from the flags, the environment or a local cluster.json."""


def use_admin_identity(data_dir_flag: str | None) -> None:
    """Call as the admin: the identity of the environment, else the local cluster's admin files
    (if there are none, calls go out without a certificate and a cluster refuses them)."""
    from cairn import rpc
    from cairn.mtls import ClusterPki, Identity

    if Identity.from_env() is not None:
        return
    pki = ClusterPki(data_dir(data_dir_flag))
    identity = pki.identity("admin")
    if identity.cert.exists() and identity.key.exists() and identity.ca.exists():
        rpc.set_identity(identity)


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
