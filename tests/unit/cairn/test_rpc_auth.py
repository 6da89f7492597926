"""The RPC role tables and the mutual-TLS edge, on an in-process server with real certificates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from cairn import rpc
from cairn.mtls import ROLES, ClusterPki, key_matches, role_of
from cairn.proto import datanode_pb2, metadata_pb2, placement_pb2
from cairn.rpc_auth import ALLOWED, PEER, REASON, may_hold_secret, redact
from tests.support.mtls import all_methods, call, der, foreign_identity, open_channel, served_certificate


def test_every_rpc_of_every_service_has_a_role_table_entry() -> None:
    paths = {m.path for m in all_methods()}
    assert sorted(paths - set(ALLOWED)) == []  # a new RPC must be given its roles
    assert sorted(set(ALLOWED) - paths) == []  # and no entry outlives its RPC
    for path, roles in ALLOWED.items():
        assert roles and roles <= {*ROLES, PEER}, path


def test_certificates_name_their_role_and_renewal_replaces_the_pair(tmp_path: Path) -> None:
    pki = ClusterPki(tmp_path)
    pki.ensure()
    for role in ROLES:
        ident = pki.identity(role)
        assert role_of(ident.cert.read_bytes()) == role
        assert key_matches(ident.cert.read_bytes(), ident.key.read_bytes())
    assert (tmp_path / "admin-cert.pem").exists() and (tmp_path / "pki" / "api.pem").exists()
    assert oct((tmp_path / "pki" / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    before = pki.identity("api").cert.read_bytes()
    pki.ensure()  # nothing is near expiry: nothing changes
    assert pki.identity("api").cert.read_bytes() == before
    pki.renew("api")
    after = pki.identity("api")
    assert after.cert.read_bytes() != before and key_matches(after.cert.read_bytes(), after.key.read_bytes())
    assert not key_matches(before, after.key.read_bytes())


def test_secrets_are_cleared_at_any_depth() -> None:
    key = metadata_pb2.AccessKey(access_key_id="AK", secret_access_key="s3cr3t", user_name="u")
    response = metadata_pb2.ListAccessKeysResponse(result=[key, key])
    redact(response)
    assert [k.secret_access_key for k in response.result] == ["", ""]
    assert [k.access_key_id for k in response.result] == ["AK", "AK"]


def test_only_responses_that_can_hold_a_secret_are_walked() -> None:
    assert may_hold_secret(metadata_pb2.ListAccessKeysResponse.DESCRIPTOR)  # nested, repeated
    assert may_hold_secret(metadata_pb2.AccessKey.DESCRIPTOR)
    assert not may_hold_secret(placement_pb2.GetStatusResponse.DESCRIPTOR)
    assert not may_hold_secret(metadata_pb2.GetBucketResponse.DESCRIPTOR)
    assert not may_hold_secret(datanode_pb2.ReadShardResponse.DESCRIPTOR)  # 1 MiB pieces


class _Placement:
    """A generic handler for two Placement methods (the role check happens before it)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def handler(self) -> grpc.GenericRpcHandler:
        async def status(
            request: placement_pb2.GetStatusRequest, context: object
        ) -> placement_pb2.GetStatusResponse:
            self.calls.append("GetStatus")
            return placement_pb2.GetStatusResponse()

        async def node_command(request: object, context: object) -> placement_pb2.NodeCommandResponse:
            self.calls.append("NodeCommand")
            return placement_pb2.NodeCommandResponse()

        return grpc.method_handlers_generic_handler(
            "cairn.placement.v1.Placement",
            {
                "GetStatus": grpc.unary_unary_rpc_method_handler(
                    status,
                    request_deserializer=placement_pb2.GetStatusRequest.FromString,
                    response_serializer=placement_pb2.GetStatusResponse.SerializeToString,
                ),
                "NodeCommand": grpc.unary_unary_rpc_method_handler(
                    node_command,
                    request_deserializer=placement_pb2.NodeCommandRequest.FromString,
                    response_serializer=placement_pb2.NodeCommandResponse.SerializeToString,
                ),
            },
        )


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[ClusterPki]:
    pki = ClusterPki(tmp_path / "cluster")
    pki.ensure()
    yield pki
    rpc.set_identity(None)


@pytest.fixture
async def served(pki: ClusterPki) -> AsyncIterator[tuple[str, _Placement]]:
    rpc.set_identity(pki.identity("placement"))
    fake = _Placement()
    server = rpc.server()
    server.add_generic_rpc_handlers((fake.handler(),))
    port = rpc.bind(server, "127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", fake
    finally:
        await server.stop(None)


def _method(name: str):  # type: ignore[no-untyped-def]
    return next(m for m in all_methods() if m.path == f"/cairn.placement.v1.Placement/{name}")


async def test_only_the_listed_roles_get_through(
    served: tuple[str, _Placement], pki: ClusterPki, tmp_path: Path
) -> None:
    addr, fake = served
    node_command = _method("NodeCommand")
    async with open_channel(addr, pki.ca_cert, pki.identity("admin"), "placement") as ch:
        assert (await call(ch, node_command))[0] == grpc.StatusCode.OK
    async with open_channel(addr, pki.ca_cert, pki.identity("datanode"), "placement") as ch:
        code, reason, _ = await call(ch, node_command)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, REASON)
    async with open_channel(addr, pki.ca_cert, pki.identity("admin"), "placement") as ch:
        assert (await call(ch, node_command))[0] == grpc.StatusCode.OK  # the check runs per call
    async with open_channel(addr, pki.ca_cert, None, "placement") as ch:  # no client certificate
        assert (await call(ch, node_command))[0] == grpc.StatusCode.UNAVAILABLE
    foreign = foreign_identity(tmp_path / "foreign", "admin")
    async with open_channel(addr, pki.ca_cert, foreign, "placement") as ch:
        assert (await call(ch, node_command))[0] == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.insecure_channel(addr) as ch:  # plaintext
        assert (await call(ch, node_command))[0] == grpc.StatusCode.UNAVAILABLE
    assert fake.calls == ["NodeCommand"] * 2  # only the admin's calls reached the servicer


async def test_a_client_verifies_the_server_role(served: tuple[str, _Placement], pki: ClusterPki) -> None:
    addr, _ = served
    # The server holds a placement certificate: a client expecting the metadata service refuses it.
    async with open_channel(addr, pki.ca_cert, pki.identity("admin"), "metadata") as ch:
        assert (await call(ch, _method("GetStatus")))[0] == grpc.StatusCode.UNAVAILABLE
    rpc.set_identity(pki.identity("admin"))
    async with rpc.channel(addr, server_role="placement") as ch:
        assert (await call(ch, _method("GetStatus")))[0] == grpc.StatusCode.OK


async def test_a_renewed_server_certificate_is_served_without_restart(
    served: tuple[str, _Placement], pki: ClusterPki
) -> None:
    addr, _ = served
    admin = pki.identity("admin")
    old = der(pki.identity("placement").cert)
    assert await asyncio.to_thread(served_certificate, addr, admin) == old
    rpc.set_identity(pki.identity("admin"))
    async with rpc.channel(addr, server_role="placement") as ch:
        assert (await call(ch, _method("GetStatus")))[0] == grpc.StatusCode.OK
        pki.renew("placement")
        new = der(pki.identity("placement").cert)
        assert new != old
        assert await asyncio.to_thread(served_certificate, addr, admin) == new
        assert (await call(ch, _method("GetStatus")))[0] == grpc.StatusCode.OK  # the open channel too
    # A half-written renewal (a new key, the old certificate) keeps the current pair in service.
    cert = pki.identity("placement").cert.read_bytes()
    pki.renew("placement")
    pki.identity("placement").cert.write_bytes(cert)
    assert await asyncio.to_thread(served_certificate, addr, admin) == new
