"""Data node faults on a real 12-node `cairn up` cluster (8+4 erasure coding), seen through boto3.

One cluster for the module, started with --no-restart so killed nodes stay dead. The tests run in
file order and build on each other:
  0. two nodes paused (SIGSTOP): reads go around them, then they are resumed;
  1. a byte flipped in one data shard's volume file is detected: GET still returns the right bytes;
  2. 3 nodes killed plus that corrupt shard (exactly 8 good shards left): still the right bytes;
     a PUT with 9 nodes up still succeeds;
  3. the node holding the corrupt shard killed too (4 down): every object reads back byte-identical,
     and a PUT (8 nodes < write quorum 9) is refused with 503 and leaves nothing visible;
  4. a 5th node killed: every GET that needs a stripe answers 503 ServiceUnavailable, never wrong
     or short bytes; a range whose bytes lie in one data piece on a live node is still served.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from cairn.api_service.config import ApiConfig
from tests.support.cluster import RunningCluster, external_cluster, start_cluster

MiB = 1024 * 1024
# The API's inline threshold (ApiConfig.inline_max_bytes, as `cairn up` passes the environment on).
INLINE_MAX = int(os.environ.get("CAIRN_API_INLINE_MAX_BYTES", ApiConfig().inline_max_bytes))
MARKER_LEN = 4096


@dataclass
class FaultState:
    cluster: RunningCluster
    s3: Any
    bucket: str
    objects: dict[str, bytes]
    corrupt_key: str
    corrupt_node: str = ""  # name of the data node whose shard was damaged
    killed: list[str] = field(default_factory=list)


def datanodes(cluster: RunningCluster) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in cluster.processes("datanode")}


def kill9(cluster: RunningCluster, name: str) -> None:
    pid = datanodes(cluster)[name]["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"data node {name} (pid {pid}) survived SIGKILL")


def get_bytes(s3: Any, bucket: str, key: str, **params: Any) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key, **params)["Body"].read())


def assert_identical(state: FaultState, keys: list[str] | None = None) -> None:
    for key in keys if keys is not None else list(state.objects):
        body = state.objects[key]
        got = get_bytes(state.s3, state.bucket, key)
        assert len(got) == len(body), key
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key


def volume_files(data_dir: str) -> list[Path]:
    return sorted((Path(data_dir) / "volumes").glob("*.cvol"))


def find_marker(cluster: RunningCluster, marker: bytes) -> list[tuple[str, Path, int]]:
    """(node name, volume file, offset) of every occurrence of `marker` in any data node's volumes."""
    found = []
    for name, proc in datanodes(cluster).items():
        for path in volume_files(proc["data_dir"]):
            data = path.read_bytes()
            start = data.find(marker)
            while start != -1:
                found.append((name, path, start))
                start = data.find(marker, start + 1)
    return found


def holders(cluster: RunningCluster, markers: dict[str, bytes]) -> dict[str, set[str]]:
    """Per label, the data nodes any of whose volume files hold its marker bytes."""
    found: dict[str, set[str]] = {label: set() for label in markers}
    for name, proc in datanodes(cluster).items():
        for path in volume_files(proc["data_dir"]):
            data = path.read_bytes()
            for label, marker in markers.items():
                if marker in data:
                    found[label].add(name)
    return found


def flip_byte(path: Path, offset: int) -> None:
    """XOR one byte of `path` at `offset`, durably (a disk's silent corruption)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        original = f.read(1)
        f.seek(offset)
        f.write(bytes([original[0] ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultState]:
    if external_cluster() is not None:
        pytest.skip("fault injection needs a local cairn up cluster")
    cluster = start_cluster(tmp_path_factory.mktemp("cairn-faults"), extra_args=["--no-restart"])
    try:
        assert len(cluster.processes("datanode")) == 12
        s3 = cluster.s3_client(read_timeout=60, connect_timeout=10)
        bucket = f"faults-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        objects = {
            "small": os.urandom(1000),
            "one-stripe": os.urandom(1 * MiB),
            "stripes": os.urandom(3 * MiB + 12345),
            "big": os.urandom(20 * MiB),
            "corrupt-me": os.urandom(300_000),
            "empty": b"",
        }
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        parts = [os.urandom(5 * MiB), os.urandom(MiB + 1)]
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="multipart")["UploadId"]
        done = [
            {
                "PartNumber": n,
                "ETag": s3.upload_part(
                    Bucket=bucket, Key="multipart", UploadId=upload_id, PartNumber=n, Body=body
                )["ETag"],
            }
            for n, body in enumerate(parts, start=1)
        ]
        s3.complete_multipart_upload(
            Bucket=bucket, Key="multipart", UploadId=upload_id, MultipartUpload={"Parts": done}
        )
        objects["multipart"] = b"".join(parts)
        yield FaultState(cluster, s3, bucket, objects, corrupt_key="corrupt-me")
    finally:
        cluster.stop()


def test_paused_nodes_are_read_around(state: FaultState) -> None:
    """Two data nodes frozen with SIGSTOP (alive, connected, silent): reads fall back to parity
    within the per-call deadline instead of hanging (the client gives up after 60 s)."""
    names = sorted(datanodes(state.cluster))[-2:]
    pids = [datanodes(state.cluster)[n]["pid"] for n in names]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for key in ("small", "stripes"):
            started = time.monotonic()
            assert_identical(state, [key])
            print(f"GET {key} with 2 paused nodes: {time.monotonic() - started:.2f} s")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    wait_all_nodes_up(state.cluster)
    assert_identical(state, ["small"])


def wait_all_nodes_up(cluster: RunningCluster, timeout: float = 60.0) -> None:
    """Until `cairn admin nodes` shows every data node up again (heartbeats resumed)."""
    assert cluster.data_dir is not None
    deadline = time.monotonic() + timeout
    states: list[str] = []
    while time.monotonic() < deadline:
        ran = subprocess.run(
            [sys.executable, "-m", "cairn", "admin", "nodes", "--json", "--data-dir", str(cluster.data_dir)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if ran.returncode == 0:
            states = [n["state"] for n in json.loads(ran.stdout)["nodes"]]
            if len(states) == 12 and set(states) == {"up"}:
                return
        time.sleep(0.5)
    raise AssertionError(f"data nodes not all up again after {timeout} s: {states}")


def test_flipped_byte_in_a_shard_is_detected(state: FaultState) -> None:
    assert_identical(state)
    body = state.objects[state.corrupt_key]
    # Data pieces hold the stripe's bytes verbatim, so the object's first bytes sit in shard 0.
    found = find_marker(state.cluster, body[:MARKER_LEN])
    assert len(found) == 1, (
        f"expected the object's first {MARKER_LEN} bytes in exactly one shard, found {found}"
    )
    name, path, offset = found[0]
    flip_byte(path, offset + 1000)
    assert find_marker(state.cluster, body[:MARKER_LEN]) == []
    state.corrupt_node = name

    for _ in range(3):  # repeated reads stay right (no cached bad piece)
        assert get_bytes(state.s3, state.bucket, state.corrupt_key) == body
    ranged = get_bytes(state.s3, state.bucket, state.corrupt_key, Range="bytes=900-1100")
    assert ranged == body[900:1101]


def test_three_down_and_one_corrupt_shard_still_read_right(state: FaultState) -> None:
    assert state.corrupt_node, "depends on test_flipped_byte_in_a_shard_is_detected"
    others = [n for n in sorted(datanodes(state.cluster)) if n != state.corrupt_node]
    for name in others[:3]:
        kill9(state.cluster, name)
        state.killed.append(name)
    # corrupt-me now has exactly 8 good shards: reading the bad one would give wrong bytes.
    assert get_bytes(state.s3, state.bucket, state.corrupt_key) == state.objects[state.corrupt_key]
    assert_identical(state)

    degraded = os.urandom(2 * MiB + 3)  # written with 9 of 12 nodes: exactly the write quorum
    state.s3.put_object(Bucket=state.bucket, Key="written-degraded", Body=degraded)
    state.objects["written-degraded"] = degraded
    assert get_bytes(state.s3, state.bucket, "written-degraded") == degraded


def test_four_down_every_object_reads_back(state: FaultState) -> None:
    assert len(state.killed) == 3, "depends on the tests before it"
    kill9(state.cluster, state.corrupt_node)
    state.killed.append(state.corrupt_node)
    assert_identical(state)
    ranged = get_bytes(state.s3, state.bucket, "big", Range=f"bytes={5 * MiB - 7}-{9 * MiB}")
    assert ranged == state.objects["big"][5 * MiB - 7 : 9 * MiB + 1]

    # 8 nodes up is below the write quorum of 9: the PUT is refused and nothing becomes visible.
    with pytest.raises(ClientError) as exc:
        state.s3.put_object(Bucket=state.bucket, Key="not-enough-nodes", Body=os.urandom(100_000))
    response = exc.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (
        503,
        "ServiceUnavailable",
    )
    keys = [o["Key"] for o in state.s3.list_objects_v2(Bucket=state.bucket)["Contents"]]
    assert "not-enough-nodes" not in keys
    with pytest.raises(ClientError) as exc:
        state.s3.head_object(Bucket=state.bucket, Key="not-enough-nodes")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_five_down_is_service_unavailable_never_wrong_bytes(state: FaultState) -> None:
    assert len(state.killed) == 4, "depends on the tests before it"
    fifth = next(n for n in sorted(datanodes(state.cluster)) if n not in state.killed)
    kill9(state.cluster, fifth)
    state.killed.append(fifth)
    outcomes: dict[str, str] = {}
    expected: dict[str, str] = {}
    # bytes 0-99 of an erasure-coded object lie in one data piece: the range needs that node alone
    first_piece = holders(
        state.cluster, {k: b[:100] for k, b in state.objects.items() if len(b) > INLINE_MAX}
    )
    for key, body in state.objects.items():
        if not body:
            continue  # an empty object has no bytes that could be wrong
        for params in ({}, {"Range": "bytes=0-99"}):
            label = f"{key} {params.get('Range', 'whole')}"
            if len(body) <= INLINE_MAX:  # inline: its bytes are in the metadata, not on the data nodes
                expected[label] = (
                    f"{206 if params else 200} with the right {100 if params else len(body)} bytes"
                )
            elif params and len(first_piece[key]) == 1 and not first_piece[key] & set(state.killed):
                expected[label] = "206 with the right 100 bytes"
            else:
                expected[label] = "503 ServiceUnavailable"
            try:
                response = state.s3.get_object(Bucket=state.bucket, Key=key, **params)
            except ClientError as err:
                meta = err.response["ResponseMetadata"]
                outcomes[label] = f"{meta['HTTPStatusCode']} {err.response['Error']['Code']}"
                continue
            status = response["ResponseMetadata"]["HTTPStatusCode"]
            try:
                got = response["Body"].read()
            except (BotoCoreError, OSError) as err:
                outcomes[label] = f"{status}, then the body broke off ({type(err).__name__})"
                continue
            wanted = body if not params else body[:100]
            outcomes[label] = f"{status} with {'the right' if got == wanted else 'WRONG'} {len(got)} bytes"
    assert outcomes == expected
