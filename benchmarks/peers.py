"""Peers to measure against, started and stopped by their scripts in the shared `peers/` folder.

`<script> start DIR` starts the peer in DIR and prints `endpoint URL`, `access_key K`,
`secret_key S` and `pid N` lines; `<script> stop DIR` stops it (safe to call when nothing runs).
The script is found in a `shared/peers/` folder beside the repository or one of its parents (the
repository's `../shared`, or a worktree's `../../shared`), unless given explicitly.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 600  # the first start downloads the peer's package
STOP_TIMEOUT_S = 60


class PeerError(Exception):
    """A peer's script failed to start it, or printed something unexpected."""


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    endpoint: str
    access_key: str
    secret_key: str
    pid: int


def find_script(name: str) -> Path | None:
    for parent in REPO.parents:
        script = parent / "shared" / "peers" / f"{name}.sh"
        if script.exists():
            return script
    return None


def start(name: str, script: Path, work_dir: Path) -> Peer:
    """Run `script start work_dir` and parse what it prints (PeerError if it fails)."""
    done = subprocess.run(
        ["bash", str(script), "start", str(work_dir)],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise PeerError(f"{script} start failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    said = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    try:
        return Peer(name, said["endpoint"], said["access_key"], said["secret_key"], int(said["pid"]))
    except (KeyError, ValueError) as err:
        raise PeerError(f"{script} start printed no {err}:\n{done.stdout}") from err


def stop(script: Path, work_dir: Path) -> None:
    subprocess.run(
        ["bash", str(script), "stop", str(work_dir)],
        timeout=STOP_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )
