"""The environment `Supervisor` starts a child with: its spec's env, the caller's, then MALLOC_ENV."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cairn.supervisor import MALLOC_ENV, ChildSpec, Supervisor

_PRINT_ENV = "import json, os; print(json.dumps({k: os.environ.get(k) for k in %r}))"


async def _child_env(tmp_path: Path, spec_env: tuple[tuple[str, str], ...]) -> dict[str, str | None]:
    """Start a child that prints its environment through the supervisor; return what it printed."""
    script = tmp_path / "print_env.py"
    script.write_text(_PRINT_ENV % ((*MALLOC_ENV, "CAIRN_T"),))
    log = tmp_path / "child.log"
    supervisor = Supervisor(restart=False, on_change=lambda: None)
    spec = ChildSpec("api", "t", "print_env", (), "127.0.0.1:1", None, log, spec_env)
    child = await supervisor.start(spec)
    assert child.proc is not None
    async with asyncio.timeout(30):
        await child.proc.wait()
    await supervisor.stop_all(("api",))
    return dict(json.loads(log.read_text().strip().splitlines()[-1]))


async def test_children_get_the_malloc_settings_unless_the_environment_sets_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    for name in MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    got = await _child_env(tmp_path, (("CAIRN_T", "spec"),))
    assert got == {**MALLOC_ENV, "CAIRN_T": "spec"}

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1234")
    got = await _child_env(tmp_path, ())
    assert got["MALLOC_TRIM_THRESHOLD_"] == "1234"
    assert got["MALLOC_MMAP_THRESHOLD_"] == MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"]
