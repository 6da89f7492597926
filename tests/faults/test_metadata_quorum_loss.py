"""Kill 2 of the 3 metadata replicas of a real `cairn up` cluster (started with --no-restart,
so they stay down), then bring them back.

While a majority is gone: an S3 PUT through boto3 and a metadata RPC (CreateBucket through the
replica-list client) each answer an error - 503 ServiceUnavailable or SlowDown for S3,
MetadataUnavailable for the RPC - within their deadlines (the API's metadata deadline, the
client's own), and GET of an existing object answers 503 too: nothing hangs. The surviving
replica is the old leader, which must stop acknowledging writes it can no longer commit.
Once the two replicas run again (same data directories, same arguments and environment):
writes succeed again and every object acknowledged before the outage reads back byte for byte.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cairn.metadata.client import MetadataClient, MetadataUnavailable
from tests.support.cluster import RunningCluster, external_cluster, start_cluster
from tests.support.procs import ServiceProcess, pid_alive, wait_for

#: The API's deadline of each metadata call (api_service.config.ApiConfig.metadata_deadline_s).
API_METADATA_DEADLINE_S = 10.0
#: A failing PUT may make one metadata call that times out, plus the request's own work.
S3_ANSWER_WITHIN_S = API_METADATA_DEADLINE_S + 5.0
RPC_DEADLINE_S = 3.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if external_cluster() is not None:
        pytest.skip("needs a local cairn up cluster")
    running = start_cluster(Path(tmp_path_factory.mktemp("cairn-meta-quorum")), extra_args=["--no-restart"])
    try:
        yield running
    finally:
        running.stop()


def _role(addr: str) -> str:
    async def probe() -> str:
        client = MetadataClient(addr, deadline_s=2.0)
        try:
            return (await client.replica_status()).role
        except MetadataUnavailable:
            return "unreachable"
        finally:
            await client.close()

    return asyncio.run(probe())


def _relaunch_args(pid: int) -> tuple[list[str], dict[str, str]]:
    """The arguments after the module name, and the environment, of a running replica (what
    `cairn up` started it with: its id, peers, data directory, certificates, root key)."""
    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    env_items = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in env_items if b"=" in item)
    return argv[argv.index("cairn.metadata") + 1 :], env


@pytest.mark.slow
def test_two_of_three_down_answers_503_in_time_and_recovers_losing_nothing(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    s3 = cluster.s3_client(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60)
    bucket = f"quorum-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    acked = {f"before/{i}": os.urandom(1000 + i) for i in range(10)}
    for key, body in acked.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    cluster.act_as("admin")
    replicas = cluster.processes("metadata")
    assert len(replicas) == 3
    wait_for(lambda: any(_role(p["addr"]) == "leader" for p in replicas), 30, "a metadata leader")
    leader = next(p for p in replicas if _role(p["addr"]) == "leader")
    victims = [p for p in replicas if p is not leader]
    relaunch = {p["name"]: _relaunch_args(p["pid"]) for p in victims}
    for p in victims:
        os.kill(p["pid"], signal.SIGKILL)
    wait_for(lambda: not any(pid_alive(p["pid"]) for p in victims), 10, "the killed replicas to exit")

    restarted: list[ServiceProcess] = []
    try:
        # S3 writes and reads answer 503 within their deadline (twice: the first may still meet
        # the old leader before check-quorum deposes it, the second meets a replica alone).
        for n in range(2):
            started = time.monotonic()
            with pytest.raises(ClientError) as put_err:
                s3.put_object(Bucket=bucket, Key=f"during/{n}", Body=b"x" * 100)
            took = time.monotonic() - started
            resp = put_err.value.response
            assert resp["ResponseMetadata"]["HTTPStatusCode"] == 503, resp
            assert resp["Error"]["Code"] in ("ServiceUnavailable", "SlowDown"), resp
            assert took < S3_ANSWER_WITHIN_S, f"PUT answered after {took:.1f}s"
        started = time.monotonic()
        with pytest.raises(ClientError) as get_err:
            s3.get_object(Bucket=bucket, Key="before/0")
        assert get_err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert time.monotonic() - started < S3_ANSWER_WITHIN_S

        # A metadata RPC through the replica list: MetadataUnavailable within its deadline.
        async def rpc_create_bucket() -> float:
            client = MetadataClient(",".join(p["addr"] for p in replicas), deadline_s=RPC_DEADLINE_S)
            t0 = time.monotonic()
            try:
                with pytest.raises(MetadataUnavailable):
                    await client.create_bucket(f"rpc-{uuid.uuid4().hex[:8]}", "owner")
                return time.monotonic() - t0
            finally:
                await client.close()

        cluster.act_as("api")  # the role that may call CreateBucket
        took = asyncio.run(rpc_create_bucket())
        cluster.act_as("admin")
        assert took < RPC_DEADLINE_S + 2.0, f"CreateBucket answered after {took:.1f}s"
        assert _role(leader["addr"]) != "leader", "a replica alone still claims to lead"

        # Bring both back on their data directories.
        for name, (args, env) in relaunch.items():
            proc = ServiceProcess("cairn.metadata", args, tmp_path / f"{name}.log", env=env).start()
            restarted.append(proc)
        for proc in restarted:
            wait_for(lambda proc=proc: "metadata listening" in proc.log_tail(), 60, "a replica to restart")

        deadline = time.monotonic() + 60
        while True:
            try:
                s3.put_object(Bucket=bucket, Key="after", Body=b"back")
                break
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        for key, body in acked.items():
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"back"
        listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
        assert set(acked) | {"after"} <= listed
    finally:
        for proc in restarted:
            proc.stop()
