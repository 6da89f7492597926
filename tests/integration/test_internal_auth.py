"""Nobody reaches the cluster's internal gRPC services without the right certificate.

On the suite's real `cairn up` cluster: every RPC of every internal service (so every mutating
and every secret-returning one) is called with no client certificate, with a certificate from
another CA (naming a role that would be allowed), and with a valid certificate of a role that is
not allowed; each call must be refused before the service acts. Then the attacks of issue 15,
the admin CLI's certificate, and one renewal of a running service's certificate.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from cairn import signing
from cairn.mtls import ROLES, ClusterPki
from cairn.proto import metadata_pb2, metadata_pb2_grpc
from cairn.rpc_auth import ALLOWED, PEER, REASON
from tests.support.cluster import RunningCluster
from tests.support.mtls import (
    Method,
    all_methods,
    call,
    der,
    foreign_identity,
    open_channel,
    served_certificate,
)

#: The services each kind of process serves (placement and metadata replicas are Raft peers).
SERVED = {
    "metadata": ("cairn.metadata.v1.Metadata", "cairn.raft.v1.Raft"),
    "placement": ("cairn.placement.v1.Placement", "cairn.raft.v1.Raft"),
    "datanode": ("cairn.datanode.v1.DataNode",),
    "gc": ("cairn.gc.v1.Gc",),
}
#: A call each kind of process answers an allowed caller, on any replica.
CONTROL = {"metadata": "GetReplicaStatus", "placement": "GetClusterMap", "datanode": "Stat", "gc": "Status"}
REFUSED_HANDSHAKE = grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def pki(cluster: RunningCluster) -> ClusterPki:
    if cluster.data_dir is None:
        pytest.skip("needs a local cairn up cluster (its data directory holds the CA)")
    return ClusterPki(cluster.data_dir)


def _addr(cluster: RunningCluster, role: str) -> str:
    return str(cluster.processes(role)[0]["addr"])


def _wrong_role(method: Method, served_by: str) -> str:
    allowed = ALLOWED[method.path]
    return next(r for r in ROLES if r not in allowed and not (PEER in allowed and r == served_by))


def _allowed_role(method: Method, served_by: str) -> str:
    allowed = ALLOWED[method.path]
    return served_by if PEER in allowed else sorted(allowed)[0]


async def _metadata_leader(cluster: RunningCluster, pki: ClusterPki) -> str:
    """The address of the metadata replica that leads (followers answer NotLeader)."""
    for proc in cluster.processes("metadata"):
        async with open_channel(proc["addr"], pki.ca_cert, pki.identity("admin"), "metadata") as ch:
            stub = metadata_pb2_grpc.MetadataStub(ch)
            status = await stub.GetReplicaStatus(metadata_pb2.GetReplicaStatusRequest(), timeout=10)
        if status.role == "leader":
            return str(proc["addr"])
    raise AssertionError("no metadata replica leads")


def test_every_service_is_covered() -> None:
    assert {s for services in SERVED.values() for s in services} == {m.service for m in all_methods()}


async def test_every_rpc_refuses_no_certificate_a_foreign_ca_and_a_wrong_role(
    cluster: RunningCluster, pki: ClusterPki, tmp_path: Path
) -> None:
    refusals: list[tuple[str, str, str]] = []
    for served_by, services in SERVED.items():
        addr = _addr(cluster, served_by)
        methods = [m for m in all_methods() if m.service in services]
        # The service answers a caller that is allowed (so the refusals below are refusals).
        control = next(m for m in methods if m.descriptor.name == CONTROL[served_by])
        async with open_channel(
            addr, pki.ca_cert, pki.identity(_allowed_role(control, served_by)), served_by
        ) as ch:
            assert (await call(ch, control))[0] == grpc.StatusCode.OK, control.path
        async with open_channel(addr, pki.ca_cert, None, served_by) as ch:
            for m in methods:
                code, _, _ = await call(ch, m)
                assert code == REFUSED_HANDSHAKE, (m.path, "no certificate", code)
                refusals.append((m.path, "none", code.name))
        async with grpc.aio.insecure_channel(addr) as ch:
            for m in methods:
                code, _, _ = await call(ch, m)
                assert code == REFUSED_HANDSHAKE, (m.path, "plaintext", code)
        for m in methods:
            foreign = foreign_identity(tmp_path / f"foreign-{m.descriptor.name}", _allowed_role(m, served_by))
            async with open_channel(addr, pki.ca_cert, foreign, served_by) as ch:
                code, _, _ = await call(ch, m)
            assert code == REFUSED_HANDSHAKE, (m.path, "foreign CA", code)
            wrong = _wrong_role(m, served_by)
            async with open_channel(addr, pki.ca_cert, pki.identity(wrong), served_by) as ch:
                code, reason, _ = await call(ch, m)
            assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, REASON), (m.path, wrong, code)
            refusals.append((m.path, wrong, code.name))
    served = sum(1 for services in SERVED.values() for m in all_methods() if m.service in services)
    assert len(refusals) == 2 * served


async def _root_keys(addr: str, pki: ClusterPki, user: str = "root") -> list[metadata_pb2.AccessKey]:
    async with open_channel(addr, pki.ca_cert, pki.identity("admin"), "metadata") as ch:
        stub = metadata_pb2_grpc.MetadataStub(ch)
        return list((await stub.ListAccessKeys(metadata_pb2.ListAccessKeysRequest(user_name=user))).result)


async def test_the_attacks_of_issue_15_fail(cluster: RunningCluster, pki: ClusterPki) -> None:
    addr = await _metadata_leader(cluster, pki)
    keys_before = await _root_keys(addr, pki)
    assert [k.access_key_id for k in keys_before] == [cluster.access_key]
    # Minting a root key takes the admin role; the S3 API's certificate is not enough.
    async with open_channel(addr, pki.ca_cert, pki.identity("api"), "metadata") as ch:
        stub = metadata_pb2_grpc.MetadataStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateAccessKey(metadata_pb2.CreateAccessKeyRequest(user_name="root"))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The API itself gets no secret: it verifies signatures with SigV4's derived key of one
        # date, region and service, and has V2 signatures checked for it.
        got = await stub.GetAccessKey(metadata_pb2.GetAccessKeyRequest(access_key_id=cluster.access_key))
        assert got.result.user_name == "root" and got.result.secret_access_key == ""
        derived = await stub.GetSigningKey(
            metadata_pb2.GetSigningKeyRequest(
                access_key_id=cluster.access_key, date="20260102", region=cluster.region, service="s3"
            )
        )
        assert derived.signing_key == signing.signing_key(
            cluster.secret_key, "20260102", cluster.region, "s3"
        )
    assert [k.access_key_id for k in await _root_keys(addr, pki)] == [cluster.access_key]
    # The admin sees keys and their owners, never a secret.
    assert all(k.secret_access_key == "" for k in keys_before)
    async with open_channel(addr, pki.ca_cert, pki.identity("admin"), "metadata") as ch:
        stub = metadata_pb2_grpc.MetadataStub(ch)
        got = await stub.GetAccessKey(metadata_pb2.GetAccessKeyRequest(access_key_id=cluster.access_key))
        assert got.result.user_name == "root" and got.result.secret_access_key == ""
    # Everyone else cannot read a key at all, and only the API gets a derived key.
    for role in ("datanode", "placement", "gc", "metadata", "admin"):
        async with open_channel(addr, pki.ca_cert, pki.identity(role), "metadata") as ch:
            stub = metadata_pb2_grpc.MetadataStub(ch)
            if role != "admin":
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.GetAccessKey(
                        metadata_pb2.GetAccessKeyRequest(access_key_id=cluster.access_key)
                    )
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetSigningKey(
                    metadata_pb2.GetSigningKeyRequest(
                        access_key_id=cluster.access_key, date="20260102", region=cluster.region, service="s3"
                    )
                )
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role


async def test_a_batch_grants_no_call_the_caller_may_not_make_alone(
    cluster: RunningCluster, pki: ClusterPki
) -> None:
    """The background service may batch (it deletes and heads objects), but a PutObject or a
    GetObject inside its batch is refused as it would be alone; its HeadObject is answered."""
    addr = await _metadata_leader(cluster, pki)
    calls = [
        ("PutObject", metadata_pb2.PutObjectRequest(bucket="no-such-bucket-b", key="k", request_id="r1")),
        ("GetObject", metadata_pb2.GetObjectRequest(bucket="no-such-bucket-b", key="k")),
        ("HeadObject", metadata_pb2.HeadObjectRequest(bucket="no-such-bucket-b", key="k")),
        ("ListGcWork", metadata_pb2.ListGcWorkRequest()),
    ]
    request = metadata_pb2.BatchRequest(
        calls=[metadata_pb2.BatchCall(method=m, request=r.SerializeToString()) for m, r in calls]
    )
    async with open_channel(addr, pki.ca_cert, pki.identity("gc"), "metadata") as ch:
        replies = (await metadata_pb2_grpc.MetadataStub(ch).Batch(request, timeout=10)).replies
    codes = [grpc.StatusCode.PERMISSION_DENIED.value[0]] * 2 + [grpc.StatusCode.NOT_FOUND.value[0]]
    assert [r.code for r in replies[:3]] == codes
    assert [r.trailers.get("cairn-reason") for r in replies[:3]] == [REASON, REASON, "NoSuchBucket"]
    # A method outside the batchable hot path is never run from a batch, whoever calls.
    assert replies[3].code == grpc.StatusCode.UNIMPLEMENTED.value[0] and not replies[3].response
    async with open_channel(addr, pki.ca_cert, pki.identity("admin"), "metadata") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await metadata_pb2_grpc.MetadataStub(ch).Batch(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def _admin(
    cluster: RunningCluster, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert cluster.data_dir is not None
    command = [sys.executable, "-m", "cairn", "admin", *args, "--data-dir", str(cluster.data_dir), "--json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env or dict(os.environ))


def test_the_admin_cli_uses_the_admin_certificate(cluster: RunningCluster, pki: ClusterPki) -> None:
    listed = _admin(cluster, "user", "list")
    assert listed.returncode == 0, listed.stderr
    assert "root" in listed.stdout
    assert json.loads(cluster.data_dir.joinpath("cluster.json").read_text())["admin_cert"] == str(  # type: ignore[union-attr]
        pki.identity("admin").cert
    )
    for command in (("cluster", "status"), ("scrub", "status")):  # placement and every data node
        done = _admin(cluster, *command)
        assert done.returncode == 0, (command, done.stderr)
    # The same command holding the S3 API's certificate is refused.
    api_env = {**os.environ, **dict(pki.identity("api").env())}
    refused = _admin(cluster, "user", "create", "mallory", env=api_env)
    assert refused.returncode == 1 and "PERMISSION_DENIED: role api may not call" in refused.stderr, (
        refused.stderr
    )
    assert "mallory" not in _admin(cluster, "user", "list").stdout


async def test_renewing_the_metadata_certificate_keeps_the_cluster_serving(
    cluster: RunningCluster, pki: ClusterPki
) -> None:
    addr = _addr(cluster, "metadata")
    s3 = cluster.s3_client()
    s3.list_buckets()
    old = der(pki.identity("metadata").cert)
    assert await asyncio.to_thread(served_certificate, addr, pki.identity("admin")) == old
    # The documented procedure: `cairn certs issue` on the running cluster's data directory.
    renew = [
        sys.executable,
        "-m",
        "cairn",
        "certs",
        "issue",
        "--data-dir",
        str(cluster.data_dir),
        "metadata",
        "admin",
    ]
    done = await asyncio.to_thread(subprocess.run, renew, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    new = der(pki.identity("metadata").cert)
    assert new != old
    assert await asyncio.to_thread(served_certificate, addr, pki.identity("admin")) == new
    # The S3 API's open connection to the metadata service still works, and new ones too.
    s3.create_bucket(Bucket="after-renewal")
    s3.put_object(Bucket="after-renewal", Key="k", Body=b"renewed")
    assert s3.get_object(Bucket="after-renewal", Key="k")["Body"].read() == b"renewed"
    listed = _admin(cluster, "user", "list")  # a new connection with the renewed admin certificate
    assert listed.returncode == 0, listed.stderr
