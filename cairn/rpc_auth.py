"""Which roles may call which RPC: one table per service, enforced by one server interceptor.

A caller's role is the `spiffe://cairn/role/<role>` URI of the client certificate it presented
in the mutual-TLS handshake (cairn.mtls); a server started with an identity requires such a
certificate from the cluster CA before any RPC runs. `RoleInterceptor` then refuses, with
PERMISSION_DENIED and reason `RoleNotAllowed`, any call whose method is not in `ALLOWED` or
whose caller's role is not listed for it. `PEER` stands for the serving process's own role
(Raft peers talk only to replicas of the same service).

Secrets: `secret_access_key` fields are cleared from every response to every caller, except
CreateAccessKey's, which is how the admin hands a new key to its user. The S3 API verifies
signatures with GetSigningKey (SigV4's key of one day, region and service) and VerifySigV2.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from cairn.grpc_wrap import HandlerInterceptor, rewrap
from cairn.mtls import role_of

REASON = "RoleNotAllowed"
PEER = "peer"

API, ADMIN, GC, DATANODE, PLACEMENT = "api", "admin", "gc", "datanode", "placement"

_S3 = frozenset({API})
_ADMIN = frozenset({ADMIN})

#: Full method name -> roles allowed to call it.
ALLOWED: Mapping[str, frozenset[str]] = {
    **{
        f"/cairn.metadata.v1.Metadata/{name}": _S3
        for name in (
            "CreateBucket",
            "GetBucket",
            "DeleteBucket",
            "SetBucketVersioning",
            "PutBucketPolicy",
            "GetBucketPolicy",
            "DeleteBucketPolicy",
            "PutBucketConfig",
            "GetBucketConfig",
            "GetBucketContext",
            "DeleteBucketConfig",
            "PutObject",
            "GetObject",
            "SetObjectTags",
            "SetObjectAcl",
            "ListObjectsV2",
            "ListObjectsV1",
            "RecordWriteIntent",
            "CreateMultipartUpload",
            "GetMultipartUpload",
            "RegisterPart",
            "ListParts",
            "CompleteMultipartUpload",
        )
    },
    # Several hot-path calls in one (metadata/rpc_batch.py): each call is checked against this
    # table with the caller's role as if it came alone; none has a secret in its answer.
    "/cairn.metadata.v1.Metadata/Batch": frozenset({API, GC}),
    # The background service's uploads worker lists every bucket's uploads and aborts the
    # abandoned ones.
    "/cairn.metadata.v1.Metadata/ListBuckets": frozenset({API, ADMIN, GC}),
    "/cairn.metadata.v1.Metadata/ListMultipartUploads": frozenset({API, GC}),
    "/cairn.metadata.v1.Metadata/AbortMultipartUpload": frozenset({API, GC}),
    # Its lifecycle worker reads every bucket's rules, walks versions and expires them.
    "/cairn.metadata.v1.Metadata/ListBucketConfigs": frozenset({GC}),
    "/cairn.metadata.v1.Metadata/ListObjectVersions": frozenset({API, GC}),
    "/cairn.metadata.v1.Metadata/HeadObject": frozenset({API, GC}),
    "/cairn.metadata.v1.Metadata/DeleteObject": frozenset({API, GC}),
    "/cairn.metadata.v1.Metadata/ListGcWork": frozenset({GC}),
    "/cairn.metadata.v1.Metadata/FindBlobs": frozenset({GC}),
    # Any metadata replica's view of its Raft group, for `cairn admin cluster status`.
    "/cairn.metadata.v1.Metadata/GetReplicaStatus": _ADMIN,
    "/cairn.gc.v1.Gc/RunOnce": _ADMIN,
    "/cairn.gc.v1.Gc/Status": _ADMIN,
    "/cairn.metadata.v1.Metadata/AckGcWork": frozenset({GC}),
    # The repair queue: the S3 API reports shards a PUT could not write and those a reader found
    # bad; the background service queues its data nodes' scrub findings, takes and acks them.
    "/cairn.metadata.v1.Metadata/QueueRepairs": frozenset({API, GC}),
    "/cairn.metadata.v1.Metadata/ListRepairQueue": frozenset({GC, ADMIN}),
    "/cairn.metadata.v1.Metadata/AckRepairs": frozenset({GC}),
    **{
        f"/cairn.metadata.v1.Metadata/{name}": _ADMIN
        for name in (
            "CreateUser",
            "ListUsers",
            "DeleteUser",
            "CreateAccessKey",
            "ListAccessKeys",
            "SetAccessKeyStatus",
            "DeleteAccessKey",
            "PutUserPolicy",
            "DeleteUserPolicy",
        )
    },
    # The S3 API reads a key (never its secret) and its user, then verifies the signature with a
    # derived key or by asking.
    "/cairn.metadata.v1.Metadata/GetSigningKey": _S3,
    "/cairn.metadata.v1.Metadata/VerifySigV2": _S3,
    "/cairn.metadata.v1.Metadata/GetAccessKey": frozenset({API, ADMIN}),
    # The built-in KMS: administrators manage keys; only the S3 API gets data keys (metadata/kms.py).
    "/cairn.metadata.v1.Metadata/CreateKmsKey": _ADMIN,
    "/cairn.metadata.v1.Metadata/ListKmsKeys": _ADMIN,
    "/cairn.metadata.v1.Metadata/SetKmsKeyEnabled": _ADMIN,
    "/cairn.metadata.v1.Metadata/ResealMasterKeys": _ADMIN,
    "/cairn.metadata.v1.Metadata/GetKmsKey": frozenset({API, ADMIN}),
    "/cairn.metadata.v1.Metadata/GenerateKmsDataKey": _S3,
    "/cairn.metadata.v1.Metadata/GetKmsDataKey": _S3,
    "/cairn.metadata.v1.Metadata/GetUser": frozenset({API, ADMIN}),
    "/cairn.metadata.v1.Metadata/GetUserPolicy": frozenset({API, ADMIN}),
    "/cairn.metadata.v1.Metadata/ListUserPolicies": frozenset({API, ADMIN}),
    "/cairn.placement.v1.Placement/Heartbeat": frozenset({DATANODE}),
    "/cairn.placement.v1.Placement/GetClusterMap": frozenset({API, DATANODE, GC, ADMIN, PLACEMENT}),
    "/cairn.placement.v1.Placement/GetPlacement": frozenset({API, GC}),
    "/cairn.placement.v1.Placement/NodeCommand": frozenset({ADMIN}),
    "/cairn.placement.v1.Placement/CreateCluster": frozenset({ADMIN}),
    "/cairn.placement.v1.Placement/GetStatus": frozenset({ADMIN, PLACEMENT}),
    # The background service (role gc: garbage collection and repair) holds the repair lease.
    "/cairn.placement.v1.Placement/ListRepairWork": frozenset({GC, ADMIN}),
    "/cairn.placement.v1.Placement/AcquireLease": frozenset({GC}),
    "/cairn.placement.v1.Placement/ReleaseLease": frozenset({GC}),
    "/cairn.placement.v1.Placement/SlotSynced": frozenset({GC}),
    "/cairn.placement.v1.Placement/SetRepairPaused": _ADMIN,
    # The API writes and reads shards; the background service's repair worker too (it rebuilds a
    # missing shard on its target).
    "/cairn.datanode.v1.DataNode/WriteShard": frozenset({API, GC}),
    "/cairn.datanode.v1.DataNode/PutShard": frozenset({API, GC}),
    "/cairn.datanode.v1.DataNode/PutShards": frozenset({API, GC}),
    "/cairn.datanode.v1.DataNode/ReadShard": frozenset({API, GC}),
    "/cairn.datanode.v1.DataNode/ReadShards": frozenset({API, GC}),
    "/cairn.datanode.v1.DataNode/DeleteShards": frozenset({API, GC}),
    "/cairn.datanode.v1.DataNode/ListShards": frozenset({GC, ADMIN}),
    "/cairn.datanode.v1.DataNode/Stat": frozenset({API, GC, ADMIN}),
    "/cairn.datanode.v1.DataNode/CompactionStatus": _ADMIN,
    # The background service runs a compaction pass on every node after GC (cairn.gc.compaction).
    "/cairn.datanode.v1.DataNode/Compact": frozenset({ADMIN, GC}),
    "/cairn.datanode.v1.DataNode/ScrubStatus": _ADMIN,
    "/cairn.datanode.v1.DataNode/ScrubStart": _ADMIN,
    "/cairn.datanode.v1.DataNode/ScrubPause": _ADMIN,
    "/cairn.datanode.v1.DataNode/ListScrubFindings": frozenset({ADMIN, GC}),
    "/cairn.raft.v1.Raft/Send": frozenset({PEER}),
    "/cairn.raft.v1.Raft/Stream": frozenset({PEER}),
    "/cairn.raft.v1.Raft/InstallSnapshot": frozenset({PEER}),
}

#: Methods whose secret goes to whoever may call them (a new key is shown to its creator once).
SECRET_FOR_CALLER = frozenset({"/cairn.metadata.v1.Metadata/CreateAccessKey"})
SECRET_FIELD = "secret_access_key"


def allowed(method: str, role: str | None, own_role: str | None) -> bool:
    roles = ALLOWED.get(method)
    if roles is None or role is None:
        return False
    return role in roles or (PEER in roles and role == own_role)


@functools.lru_cache(maxsize=64)
def _role_of_pem(pem: bytes) -> str | None:
    return role_of(pem)


def caller_role(context: grpc.aio.ServicerContext) -> str | None:
    """The role in the caller's verified client certificate (None without one)."""
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or []
    return _role_of_pem(pems[0]) if pems else None


def may_hold_secret(descriptor: Any) -> bool:
    """Whether a message of this type can hold a `secret_access_key` field at any depth: most
    responses cannot, and walking every one of their fields on each call would be wasted."""
    return _may_hold_secret(descriptor, frozenset())


@functools.lru_cache(maxsize=1024)
def _may_hold_secret(descriptor: Any, seen: frozenset[str]) -> bool:
    if descriptor.full_name in seen:
        return False  # a recursive type: its fields are being looked at further up
    seen = seen | {descriptor.full_name}
    return any(
        field.name == SECRET_FIELD
        or (field.message_type is not None and _may_hold_secret(field.message_type, seen))
        for field in descriptor.fields
    )


def redact(message: Message) -> None:
    """Clear every `secret_access_key` field in `message`, at any depth."""
    for field, value in message.ListFields():
        if field.name == SECRET_FIELD:
            message.ClearField(field.name)
        elif isinstance(value, Message):
            redact(value)
        elif field.message_type is not None:  # a repeated message field or a map
            items = value.values() if field.message_type.GetOptions().map_entry else value
            for item in items:
                if isinstance(item, Message):
                    redact(item)


#: How a call is ended with a status, a reason and a message (`cairn.rpc.abort`).
Abort = Callable[[grpc.aio.ServicerContext, grpc.StatusCode, str, str], Awaitable[object]]


class RoleInterceptor(HandlerInterceptor):
    """Checks every call against `ALLOWED` before the servicer sees it (see module doc);
    refusals end through `abort` (cairn.rpc.abort, which carries the reason)."""

    def __init__(self, own_role: str | None, abort: Abort) -> None:
        self.own_role = own_role
        self.abort = abort

    def wrap(self, handler: Any, full_method: str) -> grpc.RpcMethodHandler:
        return _guarded(handler, full_method, self.own_role, self.abort)


def _guarded(handler: Any, method: str, own_role: str | None, abort: Abort) -> grpc.RpcMethodHandler:
    strip = method not in SECRET_FOR_CALLER

    async def check(context: grpc.aio.ServicerContext) -> None:
        role = caller_role(context)
        if not allowed(method, role, own_role):
            await abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                REASON,
                f"role {role or 'none'} may not call {method}",
            )

    def clean(response: Any) -> Any:
        if strip and isinstance(response, Message) and may_hold_secret(response.DESCRIPTOR):
            redact(response)
        return response

    def unary(inner: Any, streamed_request: bool) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(context)
            return clean(await inner(request, context))

        return handle

    def stream(inner: Any, streamed_request: bool) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await check(context)
            async for item in inner(request, context):
                yield clean(item)

        return handle

    return rewrap(handler, unary, stream)
