"""Calling any internal RPC by name, as any identity (or none), for the mutual-TLS tests."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from cairn import rpc
from cairn.mtls import Identity, create_ca, issue, server_name
from cairn.proto import datanode_pb2, gc_pb2, metadata_pb2, placement_pb2, raft_pb2

DESCRIPTORS = (metadata_pb2, placement_pb2, datanode_pb2, raft_pb2, gc_pb2)


@dataclass(frozen=True)
class Method:
    path: str
    descriptor: MethodDescriptor

    @property
    def service(self) -> str:
        return self.descriptor.containing_service.full_name


def all_methods() -> Iterator[Method]:
    """Every RPC of every internal service, from the generated descriptors."""
    for module in DESCRIPTORS:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield Method(f"/{service.full_name}/{method.name}", method)


def foreign_identity(directory: Path, role: str) -> Identity:
    """A certificate for `role` from a CA that is not the cluster's."""
    create_ca(directory / "ca.pem", directory / "ca-key.pem", name="Not the cluster CA")
    return issue(
        directory / "ca.pem", directory / "ca-key.pem", role, directory / "c.pem", directory / "k.pem"
    )


def open_channel(addr: str, ca: Path, client: Identity | None, server_role: str | None) -> grpc.aio.Channel:
    """A TLS channel trusting `ca`, presenting `client`'s certificate (none if None)."""
    if client is None:
        creds = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca.read_bytes(),
            private_key=client.key.read_bytes(),
            certificate_chain=client.cert.read_bytes(),
        )
    options: list[tuple[str, Any]] = [("grpc.use_local_subchannel_pool", 1)]
    if server_role:
        options.append(("grpc.ssl_target_name_override", server_name(server_role)))
    return grpc.aio.secure_channel(addr, creds, options=options)


async def call(
    channel: grpc.aio.Channel, method: Method, timeout: float = 10.0
) -> tuple[grpc.StatusCode, str | None, Any]:
    """Call `method` with an empty request; (status, cairn-reason, last response or None)."""
    request_cls = message_factory.GetMessageClass(method.descriptor.input_type)
    response_cls = message_factory.GetMessageClass(method.descriptor.output_type)
    codec = {
        "request_serializer": request_cls.SerializeToString,
        "response_deserializer": response_cls.FromString,
    }
    d = method.descriptor

    async def requests() -> AsyncIterator[Any]:
        yield request_cls()

    try:
        if d.client_streaming and d.server_streaming:
            items = [
                r async for r in channel.stream_stream(method.path, **codec)(requests(), timeout=timeout)
            ]
            response = items[-1] if items else None
        elif d.client_streaming:
            response = await channel.stream_unary(method.path, **codec)(requests(), timeout=timeout)
        elif d.server_streaming:
            items = [
                r async for r in channel.unary_stream(method.path, **codec)(request_cls(), timeout=timeout)
            ]
            response = items[-1] if items else None
        else:
            response = await channel.unary_unary(method.path, **codec)(request_cls(), timeout=timeout)
    except grpc.aio.AioRpcError as err:
        return err.code(), rpc.reason_of(err), None
    return grpc.StatusCode.OK, None, response


def served_certificate(addr: str, client: Identity) -> bytes:
    """The certificate (DER) the server at `addr` presents in a new handshake, as `client`."""
    host, port = addr.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(client.ca))
    context.check_hostname = False
    context.load_cert_chain(str(client.cert), str(client.key))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def der(cert_path: Path) -> bytes:
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(Encoding.DER)
