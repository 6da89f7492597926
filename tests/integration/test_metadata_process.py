"""The metadata service as a real process: startup line, root key, durability across restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cairn.metadata.client import MetadataClient, NoSuchKey, ObjectAttrs, VersioningState
from tests.support.procs import ServiceProcess, free_port, wait_for


def start(tmp_path: Path, port: int, processes: list[ServiceProcess]) -> ServiceProcess:
    proc = ServiceProcess(
        "cairn.metadata",
        [
            "--data-dir",
            str(tmp_path / "meta"),
            "--port",
            str(port),
            "--shards",
            "4",
            "--root-access-key",
            "ROOTKEY",
            "--root-secret-key",
            "rootsecret",
        ],
        tmp_path / f"metadata-{len(processes)}.log",
    ).start()
    processes.append(proc)
    wait_for(
        lambda: f"metadata listening on 127.0.0.1:{port}" in proc.log_tail(), 20, "metadata startup line"
    )
    return proc


def test_state_survives_sigterm_and_sigkill(tmp_path: Path, processes: list[ServiceProcess]) -> None:
    port = free_port()
    addr = f"127.0.0.1:{port}"
    proc = start(tmp_path, port, processes)

    async def first() -> str:
        async with MetadataClient(addr) as c:
            root = await c.get_access_key("ROOTKEY")
            assert root.secret_access_key == "rootsecret" and root.user_name == "root"
            await c.create_bucket("durable", root.user_id)
            await c.set_bucket_versioning("durable", VersioningState.ENABLED)
            v = await c.put_object("durable", "k", ObjectAttrs(size=5, etag="a" * 32))
            await c.delete_object("durable", "k")
            return v.version_id

    version_id = asyncio.run(first())
    proc.stop()
    assert proc.proc is not None and proc.proc.returncode == 0
    proc = start(tmp_path, port, processes)

    async def second() -> None:
        async with MetadataClient(addr) as c:
            assert (await c.get_bucket("durable")).versioning is VersioningState.ENABLED
            assert (await c.get_object("durable", "k", version_id)).size == 5
            try:
                await c.get_object("durable", "k")
                raise AssertionError("the delete marker was lost")
            except NoSuchKey as err:
                assert err.is_delete_marker
            await c.put_object("durable", "after-restart", ObjectAttrs(size=1, etag="b" * 32))

    asyncio.run(second())
    proc.kill9()
    start(tmp_path, port, processes)

    async def third() -> None:
        async with MetadataClient(addr) as c:
            assert (await c.get_object("durable", "after-restart")).size == 1
            assert len(await c.list_users()) == 1

    asyncio.run(third())
