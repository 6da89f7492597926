"""`cairn admin user|key ...` as subprocesses against a real metadata service process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from cairn.metadata.client import AccessKeyStatus, MetadataClient
from tests.support.procs import ServiceProcess, free_port, port_open, wait_for

ROOT_KEY, ROOT_SECRET = "CAIRNTESTROOTKEY0001", "root-secret-0123456789abcdefghijklmnopqrs"


@pytest.fixture
def metadata(processes: list[ServiceProcess], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        "cairn.metadata",
        [
            "--data-dir",
            str(tmp_path / "metadata"),
            "--port",
            str(port),
            "--root-access-key",
            ROOT_KEY,
            "--root-secret-key",
            ROOT_SECRET,
        ],
        tmp_path / "metadata.log",
    ).start()
    processes.append(proc)
    try:
        wait_for(lambda: port_open(port) or not proc.alive(), 60, "the metadata service's port")
    except TimeoutError:
        pytest.fail(f"metadata did not listen on {port}:\n{proc.log_tail()}")
    if not proc.alive():
        pytest.fail(f"metadata exited during start-up:\n{proc.log_tail()}")
    yield f"127.0.0.1:{port}"


def admin(*argv: str, addr: str | None = None) -> tuple[int, str, str]:
    target = ("--metadata", addr) if addr else ()
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "admin", *argv, *target], capture_output=True, text=True, timeout=30
    )
    return done.returncode, done.stdout, done.stderr


def test_users_and_keys_through_the_cli(metadata: str, tmp_path: Path) -> None:
    code, out, err = admin("user", "create", "alice", addr=metadata)
    assert code == 0 and out.startswith("created user alice (AIDA") and err == ""
    code, out, err = admin("user", "create", "alice", addr=metadata)
    assert (code, out) == (1, "") and err.startswith("cairn admin: UserAlreadyExists: ")
    assert len(err.splitlines()) == 1

    code, out, _ = admin("user", "list", addr=metadata)
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and rows[0] == ["NAME", "USER", "ID", "CREATED", "ARN"]
    assert [(r[0], r[-1]) for r in rows[1:]] == [
        ("alice", "arn:aws:iam::000000000000:user/alice"),
        ("root", "arn:aws:iam::000000000000:root"),
    ]
    code, out, _ = admin("user", "list", "--json", addr=metadata)
    alice = next(u for u in json.loads(out)["users"] if u["name"] == "alice")

    code, out, _ = admin("key", "create", "alice", addr=metadata)
    lines = out.splitlines()
    assert code == 0 and lines[1].split()[0] == "AccessKeyId:" and lines[2].split()[0] == "SecretAccessKey:"
    key_id, secret = lines[1].split()[1], lines[2].split()[1]
    code, out, _ = admin("key", "create", "alice", "--json", addr=metadata)
    second = json.loads(out)
    assert code == 0 and second["user_name"] == "alice" and len(second["secret_access_key"]) == 40
    code, _, err = admin("key", "create", "nobody", addr=metadata)
    assert code == 1 and err.startswith("cairn admin: NoSuchUser: ")

    code, out, _ = admin("key", "list", addr=metadata)
    assert (
        code == 0 and secret not in out and second["secret_access_key"] not in out and ROOT_SECRET not in out
    )
    listed = sorted(tuple(line.split()[:3]) for line in out.splitlines()[1:])
    assert listed == sorted(
        [
            (key_id, "alice", "Active"),
            (second["access_key_id"], "alice", "Active"),
            (ROOT_KEY, "root", "Active"),
        ]
    )

    code, out, _ = admin("key", "revoke", key_id, addr=metadata)
    assert code == 0 and f"{key_id} of alice: Inactive" in out and "InvalidAccessKeyId" in out
    code, out, _ = admin("key", "list", "alice", "--json", addr=metadata)
    assert code == 0 and "secret" not in out
    assert {k["access_key_id"]: k["status"] for k in json.loads(out)["access_keys"]} == {
        key_id: "Inactive",
        second["access_key_id"]: "Active",
    }
    status = asyncio.run(_key_status(metadata, key_id))
    assert status == AccessKeyStatus.INACTIVE  # what the S3 API's credential lookup sees

    code, out, err = admin("user", "delete", "alice", addr=metadata)
    assert (code, out) == (1, "") and "DeleteConflict" in err and key_id in err and len(err.splitlines()) == 1
    for k in (key_id, second["access_key_id"]):
        code, out, _ = admin("key", "delete", k, addr=metadata)
        assert code == 0 and out == f"deleted access key {k} of alice\n"
    asyncio.run(_create_bucket(metadata, "alices-bucket", alice["user_id"]))
    code, _, err = admin("user", "delete", "alice", addr=metadata)
    assert code == 1 and "still owns 1 bucket(s): alices-bucket" in err
    asyncio.run(_delete_bucket(metadata, "alices-bucket"))

    # The same service, found through a local cluster's cluster.json.
    (tmp_path / "cluster.json").write_text(
        json.dumps(
            {
                "processes": [
                    {
                        "role": "metadata",
                        "id": "metadata",
                        "pid": 0,
                        "addr": metadata,
                        "data_dir": str(tmp_path),
                    }
                ]
            }
        )
    )
    code, out, _ = admin("user", "delete", "alice", "--json", "--data-dir", str(tmp_path))
    assert code == 0 and json.loads(out) == {"name": "alice", "user_id": alice["user_id"], "deleted": True}
    code, out, _ = admin("user", "list", addr=metadata)
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["root"]
    code, _, err = admin("user", "delete", "alice", addr=metadata)
    assert code == 1 and err.startswith("cairn admin: NoSuchUser: ")


@pytest.fixture
def s3_api(metadata: str, processes: list[ServiceProcess], tmp_path: Path) -> str:
    """A real S3 API in front of `metadata`, with a 0.5 s credential cache; its endpoint."""
    port = free_port()
    api = ServiceProcess(
        "cairn.api_service",
        ["--port", str(port), "--metadata", metadata, "--placement", f"127.0.0.1:{free_port()}"],
        tmp_path / "api.log",
        env={"CAIRN_API_CREDENTIAL_CACHE_TTL_S": "0.5"},
    ).start()
    processes.append(api)
    wait_for(lambda: port_open(port) or not api.alive(), 15, "the S3 API's port")
    assert api.alive(), api.log_tail()
    return f"http://127.0.0.1:{port}"


def s3_client(endpoint: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def accepted(endpoint: str, key_id: str, secret: str) -> bool:
    """Whether a ListBuckets signed with the key succeeds (False on InvalidAccessKeyId)."""
    s3 = s3_client(endpoint, key_id, secret)
    try:
        s3.list_buckets()
    except botocore.exceptions.ClientError as err:
        assert err.response["Error"]["Code"] == "InvalidAccessKeyId", err.response
        return False
    return True


def test_revoked_key_is_refused_by_the_s3_api(metadata: str, s3_api: str) -> None:
    assert admin("user", "create", "bob", addr=metadata)[0] == 0
    code, out, _ = admin("key", "create", "bob", "--json", addr=metadata)
    key = json.loads(out)
    assert accepted(s3_api, key["access_key_id"], key["secret_access_key"])
    assert admin("key", "revoke", key["access_key_id"], addr=metadata)[0] == 0
    wait_for(
        lambda: not accepted(s3_api, key["access_key_id"], key["secret_access_key"]),
        5,
        "InvalidAccessKeyId once the 0.5 s credential cache expires",
        interval=0.2,
    )


def test_root_key_revoke_needs_force_and_activate_brings_it_back(metadata: str, s3_api: str) -> None:
    assert accepted(s3_api, ROOT_KEY, ROOT_SECRET)
    code, out, err = admin("key", "revoke", ROOT_KEY, addr=metadata)
    assert (code, out) == (1, "") and "last active access key of the root user root" in err
    assert "--force" in err and accepted(s3_api, ROOT_KEY, ROOT_SECRET)
    code, out, err = admin("key", "revoke", ROOT_KEY, "--force", addr=metadata)
    assert code == 0 and err == "" and f"{ROOT_KEY} of root: Inactive" in out
    wait_for(
        lambda: not accepted(s3_api, ROOT_KEY, ROOT_SECRET),
        5,
        "InvalidAccessKeyId for the revoked root key",
        interval=0.2,
    )
    code, out, err = admin("key", "activate", ROOT_KEY, addr=metadata)
    assert code == 0 and err == "" and f"{ROOT_KEY} of root: Active" in out
    wait_for(
        lambda: accepted(s3_api, ROOT_KEY, ROOT_SECRET),
        5,
        "the re-activated root key to be accepted again",
        interval=0.2,
    )


def test_a_reader_that_goes_away_ends_the_command_quietly(metadata: str) -> None:
    for i in range(30):  # more rows than a pipe's first read
        assert admin("user", "create", f"user-{i:02d}", addr=metadata)[0] == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` that has already exited
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cairn", "admin", "user", "list", "--metadata", metadata],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_unreachable_metadata_exits_3(tmp_path: Path) -> None:
    code, out, err = admin("user", "list", "--timeout", "2", addr=f"127.0.0.1:{free_port()}")
    assert (code, out) == (3, "") and "metadata service unreachable at 127.0.0.1:" in err
    assert len(err.splitlines()) == 1
    code, _, err = admin("key", "list", "--data-dir", str(tmp_path))
    assert code == 2 and "cluster.json does not exist" in err


async def _key_status(addr: str, key_id: str) -> AccessKeyStatus:
    async with MetadataClient(addr) as client:
        return (await client.get_access_key(key_id)).status


async def _create_bucket(addr: str, name: str, owner_id: str) -> None:
    async with MetadataClient(addr) as client:
        await client.create_bucket(name, owner_id)


async def _delete_bucket(addr: str, name: str) -> None:
    async with MetadataClient(addr) as client:
        await client.delete_bucket(name)
