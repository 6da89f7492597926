"""The gRPC servicer of the metadata service: one typed method per RPC of `Metadata`.

`MetadataServicer` subclasses the generated abstract servicer, so mypy checks every method
against proto/metadata.proto. Each method converts its request with `rpc_convert`, calls
`MetadataService` with real (keyword) arguments and converts the result back; mutating RPCs
run as their request's id (`_exactly_once`, see dedup.py); `rpc.edge`
ends a call that raised a domain error with its status code, reason and delete-marker
trailers (`rpc_errors.ERRORS`), and any other failure with INTERNAL (logged).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import grpc
import grpc.aio

from cairn import rpc, rpc_auth
from cairn.metadata import rpc_convert as cv
from cairn.metadata.core import request_id
from cairn.metadata.models import AccessKeyStatus, ChecksumType, VersioningState
from cairn.metadata.rpc_batch import run_batch
from cairn.metadata.rpc_errors import ERRORS
from cairn.metadata.service import MetadataService
from cairn.proto import metadata_pb2 as pb
from cairn.proto import metadata_pb2_grpc


class _Mutating(Protocol):
    @property
    def request_id(self) -> str: ...


_S = TypeVar("_S")
_Req = TypeVar("_Req", bound=_Mutating)
_Resp = TypeVar("_Resp")


def _exactly_once(
    method: Callable[[_S, _Req, grpc.aio.ServicerContext], Awaitable[_Resp]],
) -> Callable[[_S, _Req, grpc.aio.ServicerContext], Awaitable[_Resp]]:
    """A mutating RPC: the service's writes carry the request's id (core.request_id)."""

    @functools.wraps(method)
    async def handle(self: _S, request: _Req, context: grpc.aio.ServicerContext) -> _Resp:
        with request_id(request.request_id):
            return await method(self, request, context)

    return handle


class MetadataServicer(metadata_pb2_grpc.MetadataServicer):
    def __init__(self, service: MetadataService) -> None:
        self._service = service

    # --- buckets ------------------------------------------------------------------
    @rpc.edge(ERRORS)
    @_exactly_once
    async def CreateBucket(
        self, request: pb.CreateBucketRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateBucketResponse:
        result = await self._service.create_bucket(request.name, request.owner_id, region=request.region)
        return pb.CreateBucketResponse(result=cv.bucket_to_pb(result))

    @rpc.edge(ERRORS)
    async def GetBucket(
        self, request: pb.GetBucketRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBucketResponse:
        result = await self._service.get_bucket(request.name)
        return pb.GetBucketResponse(result=cv.bucket_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def DeleteBucket(
        self, request: pb.DeleteBucketRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteBucketResponse:
        await self._service.delete_bucket(request.name)
        return pb.DeleteBucketResponse()

    @rpc.edge(ERRORS)
    async def ListBuckets(
        self, request: pb.ListBucketsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBucketsResponse:
        result = await self._service.list_buckets(request.owner_id if request.HasField("owner_id") else None)
        return pb.ListBucketsResponse(result=[cv.bucket_to_pb(b) for b in result])

    @rpc.edge(ERRORS)
    @_exactly_once
    async def SetBucketVersioning(
        self, request: pb.SetBucketVersioningRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetBucketVersioningResponse:
        result = await self._service.set_bucket_versioning(
            request.name, cv.enum_from_pb(VersioningState, request.state)
        )
        return pb.SetBucketVersioningResponse(result=cv.bucket_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def PutBucketPolicy(
        self, request: pb.PutBucketPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutBucketPolicyResponse:
        await self._service.put_bucket_policy(request.name, request.document)
        return pb.PutBucketPolicyResponse()

    @rpc.edge(ERRORS)
    async def GetBucketPolicy(
        self, request: pb.GetBucketPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBucketPolicyResponse:
        result = await self._service.get_bucket_policy(request.name)
        return pb.GetBucketPolicyResponse(result=cv.policy_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def DeleteBucketPolicy(
        self, request: pb.DeleteBucketPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteBucketPolicyResponse:
        await self._service.delete_bucket_policy(request.name)
        return pb.DeleteBucketPolicyResponse()

    @rpc.edge(ERRORS)
    @_exactly_once
    async def PutBucketConfig(
        self, request: pb.PutBucketConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutBucketConfigResponse:
        await self._service.put_bucket_config(request.bucket, request.kind, request.document)
        return pb.PutBucketConfigResponse()

    @rpc.edge(ERRORS)
    async def GetBucketConfig(
        self, request: pb.GetBucketConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBucketConfigResponse:
        result = await self._service.get_bucket_config(request.bucket, request.kind)
        return pb.GetBucketConfigResponse(result=cv.bucket_config_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def DeleteBucketConfig(
        self, request: pb.DeleteBucketConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteBucketConfigResponse:
        await self._service.delete_bucket_config(request.bucket, request.kind)
        return pb.DeleteBucketConfigResponse()

    @rpc.edge(ERRORS)
    async def GetBucketContext(
        self, request: pb.GetBucketContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBucketContextResponse:
        return cv.bucket_context_to_pb(await self._service.get_bucket_context(request.name))

    @rpc.edge(ERRORS)
    async def ListBucketConfigs(
        self, request: pb.ListBucketConfigsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBucketConfigsResponse:
        result = await self._service.list_bucket_configs(request.kind)
        return pb.ListBucketConfigsResponse(result=[cv.bucket_config_to_pb(b) for b in result])

    # --- objects ------------------------------------------------------------------
    @rpc.edge(ERRORS)
    @_exactly_once
    async def PutObject(
        self, request: pb.PutObjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutObjectResponse:
        result = await self._service.put_object(
            request.bucket,
            request.key,
            cv.attrs_from_pb(request.attrs),
            if_match=request.if_match if request.HasField("if_match") else None,
            if_none_match=request.if_none_match,
        )
        return pb.PutObjectResponse(result=cv.version_to_pb(result))

    @rpc.edge(ERRORS)
    async def GetObject(
        self, request: pb.GetObjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetObjectResponse:
        result = await self._service.get_object(
            request.bucket, request.key, request.version_id if request.HasField("version_id") else None
        )
        return pb.GetObjectResponse(result=cv.version_to_pb(result))

    @rpc.edge(ERRORS)
    async def HeadObject(
        self, request: pb.HeadObjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.HeadObjectResponse:
        result = await self._service.head_object(
            request.bucket, request.key, request.version_id if request.HasField("version_id") else None
        )
        return pb.HeadObjectResponse(result=cv.version_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def DeleteObject(
        self, request: pb.DeleteObjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteObjectResponse:
        result = await self._service.delete_object(
            request.bucket, request.key, request.version_id if request.HasField("version_id") else None
        )
        return pb.DeleteObjectResponse(result=cv.delete_result_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def SetObjectTags(
        self, request: pb.SetObjectTagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetObjectTagsResponse:
        version_id = await self._service.set_object_tags(
            request.bucket,
            request.key,
            cv.pairs_from_pb(request.tags),
            request.version_id if request.HasField("version_id") else None,
        )
        return pb.SetObjectTagsResponse(version_id=version_id)

    @rpc.edge(ERRORS)
    @_exactly_once
    async def SetObjectAcl(
        self, request: pb.SetObjectAclRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetObjectAclResponse:
        version_id = await self._service.set_object_acl(
            request.bucket,
            request.key,
            request.acl,
            request.version_id if request.HasField("version_id") else None,
        )
        return pb.SetObjectAclResponse(version_id=version_id)

    @rpc.edge(ERRORS)
    async def ListObjectsV2(
        self, request: pb.ListObjectsV2Request, context: grpc.aio.ServicerContext
    ) -> pb.ListObjectsV2Response:
        result = await self._service.list_objects_v2(
            request.bucket,
            prefix=request.prefix,
            delimiter=request.delimiter,
            max_keys=request.max_keys,
            continuation_token=request.continuation_token if request.HasField("continuation_token") else None,
            start_after=request.start_after,
            fetch_owner=request.fetch_owner,
        )
        return pb.ListObjectsV2Response(result=cv.objects_v2_page_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListObjectsV1(
        self, request: pb.ListObjectsV1Request, context: grpc.aio.ServicerContext
    ) -> pb.ListObjectsV1Response:
        result = await self._service.list_objects_v1(
            request.bucket,
            prefix=request.prefix,
            delimiter=request.delimiter,
            max_keys=request.max_keys,
            marker=request.marker,
        )
        return pb.ListObjectsV1Response(result=cv.objects_v1_page_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListObjectVersions(
        self, request: pb.ListObjectVersionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListObjectVersionsResponse:
        result = await self._service.list_object_versions(
            request.bucket,
            prefix=request.prefix,
            delimiter=request.delimiter,
            max_keys=request.max_keys,
            key_marker=request.key_marker,
            version_id_marker=request.version_id_marker,
        )
        return pb.ListObjectVersionsResponse(result=cv.versions_page_to_pb(result))

    # --- write intents and GC -----------------------------------------------------
    @rpc.edge(ERRORS)
    @_exactly_once
    async def RecordWriteIntent(
        self, request: pb.RecordWriteIntentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordWriteIntentResponse:
        result = await self._service.record_write_intent(
            request.bucket,
            request.key,
            request.blob_id,
            request.pg,
            ttl_s=request.ttl_s if request.HasField("ttl_s") else None,
        )
        return pb.RecordWriteIntentResponse(result=cv.intent_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListGcWork(
        self, request: pb.ListGcWorkRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGcWorkResponse:
        result = await self._service.list_gc_work(request.limit)
        return pb.ListGcWorkResponse(result=[cv.gc_item_to_pb(i) for i in result])

    @rpc.edge(ERRORS)
    @_exactly_once
    async def AckGcWork(
        self, request: pb.AckGcWorkRequest, context: grpc.aio.ServicerContext
    ) -> pb.AckGcWorkResponse:
        result = await self._service.ack_gc_work(request.blob_ids)
        return pb.AckGcWorkResponse(result=result)

    @rpc.edge(ERRORS)
    @_exactly_once
    async def QueueRepairs(
        self, request: pb.QueueRepairsRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueueRepairsResponse:
        result = await self._service.queue_repairs([cv.repair_report_from_pb(r) for r in request.reports])
        return pb.QueueRepairsResponse(result=result)

    @rpc.edge(ERRORS)
    async def ListRepairQueue(
        self, request: pb.ListRepairQueueRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRepairQueueResponse:
        result = await self._service.list_repair_queue(request.limit)
        return pb.ListRepairQueueResponse(result=[cv.repair_item_to_pb(i) for i in result])

    @rpc.edge(ERRORS)
    @_exactly_once
    async def AckRepairs(
        self, request: pb.AckRepairsRequest, context: grpc.aio.ServicerContext
    ) -> pb.AckRepairsResponse:
        return pb.AckRepairsResponse(result=await self._service.ack_repairs(list(request.ids)))

    @rpc.edge(ERRORS)
    async def FindBlobs(
        self, request: pb.FindBlobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindBlobsResponse:
        return pb.FindBlobsResponse(result=await self._service.find_blobs(request.blob_ids))

    # --- multipart ----------------------------------------------------------------
    @rpc.edge(ERRORS)
    @_exactly_once
    async def CreateMultipartUpload(
        self, request: pb.CreateMultipartUploadRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateMultipartUploadResponse:
        result = await self._service.create_multipart_upload(
            request.bucket,
            request.key,
            cv.attrs_from_pb(request.attrs),
            checksum_algorithm=request.checksum_algorithm,
            checksum_type=cv.enum_from_pb(ChecksumType, request.checksum_type),
        )
        return pb.CreateMultipartUploadResponse(result=cv.upload_to_pb(result))

    @rpc.edge(ERRORS)
    async def GetMultipartUpload(
        self, request: pb.GetMultipartUploadRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMultipartUploadResponse:
        result = await self._service.get_multipart_upload(request.bucket, request.key, request.upload_id)
        return pb.GetMultipartUploadResponse(result=cv.upload_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def RegisterPart(
        self, request: pb.RegisterPartRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterPartResponse:
        result = await self._service.register_part(
            request.bucket,
            request.key,
            request.upload_id,
            request.part_number,
            size=request.size,
            etag=request.etag,
            blobs=cv.blobs_from_pb(request.blobs),
            checksums=cv.checksums_from_pb(request.checksums),
        )
        return pb.RegisterPartResponse(result=cv.part_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListParts(
        self, request: pb.ListPartsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPartsResponse:
        result = await self._service.list_parts(
            request.bucket,
            request.key,
            request.upload_id,
            max_parts=request.max_parts,
            part_number_marker=request.part_number_marker,
        )
        return pb.ListPartsResponse(result=cv.parts_page_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListMultipartUploads(
        self, request: pb.ListMultipartUploadsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMultipartUploadsResponse:
        result = await self._service.list_multipart_uploads(
            request.bucket,
            prefix=request.prefix,
            delimiter=request.delimiter,
            max_uploads=request.max_uploads,
            key_marker=request.key_marker,
            upload_id_marker=request.upload_id_marker,
        )
        return pb.ListMultipartUploadsResponse(result=cv.uploads_page_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def CompleteMultipartUpload(
        self, request: pb.CompleteMultipartUploadRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteMultipartUploadResponse:
        result = await self._service.complete_multipart_upload(
            request.bucket,
            request.key,
            request.upload_id,
            [cv.completed_part_from_pb(p) for p in request.parts],
            checksums=cv.checksums_from_pb(request.checksums),
            if_match=request.if_match if request.HasField("if_match") else None,
            if_none_match=request.if_none_match,
        )
        return pb.CompleteMultipartUploadResponse(result=cv.version_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def AbortMultipartUpload(
        self, request: pb.AbortMultipartUploadRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbortMultipartUploadResponse:
        await self._service.abort_multipart_upload(request.bucket, request.key, request.upload_id)
        return pb.AbortMultipartUploadResponse()

    # --- IAM ----------------------------------------------------------------------
    @rpc.edge(ERRORS)
    @_exactly_once
    async def CreateUser(
        self, request: pb.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateUserResponse:
        result = await self._service.create_user(request.name)
        return pb.CreateUserResponse(result=cv.user_to_pb(result))

    @rpc.edge(ERRORS)
    async def GetUser(
        self, request: pb.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUserResponse:
        result = await self._service.get_user(request.name)
        return pb.GetUserResponse(result=cv.user_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListUsers(
        self, request: pb.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListUsersResponse:
        result = await self._service.list_users()
        return pb.ListUsersResponse(result=[cv.user_to_pb(u) for u in result])

    @rpc.edge(ERRORS)
    @_exactly_once
    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteUserResponse:
        await self._service.delete_user(request.name)
        return pb.DeleteUserResponse()

    @rpc.edge(ERRORS)
    @_exactly_once
    async def CreateAccessKey(
        self, request: pb.CreateAccessKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAccessKeyResponse:
        result = await self._service.create_access_key(
            request.user_name,
            access_key_id=request.access_key_id if request.HasField("access_key_id") else None,
            secret_access_key=request.secret_access_key if request.HasField("secret_access_key") else None,
        )
        return pb.CreateAccessKeyResponse(result=cv.access_key_to_pb(result))

    @rpc.edge(ERRORS)
    async def GetAccessKey(
        self, request: pb.GetAccessKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAccessKeyResponse:
        result = await self._service.get_access_key(request.access_key_id)
        return pb.GetAccessKeyResponse(result=cv.access_key_to_pb(result))

    @rpc.edge(ERRORS)
    async def GetSigningKey(
        self, request: pb.GetSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSigningKeyResponse:
        key = await self._service.signing_key(
            request.access_key_id, request.date, request.region, request.service
        )
        return pb.GetSigningKeyResponse(signing_key=key)

    @rpc.edge(ERRORS)
    async def VerifySigV2(
        self, request: pb.VerifySigV2Request, context: grpc.aio.ServicerContext
    ) -> pb.VerifySigV2Response:
        valid = await self._service.sigv2_matches(
            request.access_key_id, request.string_to_sign, request.signature
        )
        return pb.VerifySigV2Response(valid=valid)

    @rpc.edge(ERRORS)
    async def ListAccessKeys(
        self, request: pb.ListAccessKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAccessKeysResponse:
        result = await self._service.list_access_keys(request.user_name)
        return pb.ListAccessKeysResponse(result=[cv.access_key_to_pb(k) for k in result])

    @rpc.edge(ERRORS)
    @_exactly_once
    async def SetAccessKeyStatus(
        self, request: pb.SetAccessKeyStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetAccessKeyStatusResponse:
        result = await self._service.set_access_key_status(
            request.access_key_id, cv.enum_from_pb(AccessKeyStatus, request.status)
        )
        return pb.SetAccessKeyStatusResponse(result=cv.access_key_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def DeleteAccessKey(
        self, request: pb.DeleteAccessKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteAccessKeyResponse:
        await self._service.delete_access_key(request.access_key_id)
        return pb.DeleteAccessKeyResponse()

    @rpc.edge(ERRORS)
    @_exactly_once
    async def PutUserPolicy(
        self, request: pb.PutUserPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutUserPolicyResponse:
        await self._service.put_user_policy(request.user_name, request.policy_name, request.document)
        return pb.PutUserPolicyResponse()

    @rpc.edge(ERRORS)
    async def GetUserPolicy(
        self, request: pb.GetUserPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUserPolicyResponse:
        result = await self._service.get_user_policy(request.user_name, request.policy_name)
        return pb.GetUserPolicyResponse(result=cv.policy_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListUserPolicies(
        self, request: pb.ListUserPoliciesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListUserPoliciesResponse:
        result = await self._service.list_user_policies(request.user_name)
        return pb.ListUserPoliciesResponse(result=[cv.policy_to_pb(p) for p in result])

    @rpc.edge(ERRORS)
    @_exactly_once
    async def DeleteUserPolicy(
        self, request: pb.DeleteUserPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteUserPolicyResponse:
        await self._service.delete_user_policy(request.user_name, request.policy_name)
        return pb.DeleteUserPolicyResponse()

    @rpc.edge(ERRORS)
    async def GetReplicaStatus(
        self, request: pb.GetReplicaStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetReplicaStatusResponse:
        return cv.replica_status_to_pb(self._service.replicator.status())

    # --- KMS (kms.py) -------------------------------------------------------------
    @rpc.edge(ERRORS)
    @_exactly_once
    async def CreateKmsKey(
        self, request: pb.CreateKmsKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateKmsKeyResponse:
        result = await self._service.create_kms_key(request.alias, request.description)
        return pb.CreateKmsKeyResponse(result=cv.kms_key_to_pb(result))

    @rpc.edge(ERRORS)
    async def GetKmsKey(
        self, request: pb.GetKmsKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetKmsKeyResponse:
        result = await self._service.get_kms_key(request.key)
        return pb.GetKmsKeyResponse(result=cv.kms_key_to_pb(result))

    @rpc.edge(ERRORS)
    async def ListKmsKeys(
        self, request: pb.ListKmsKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListKmsKeysResponse:
        result = await self._service.list_kms_keys()
        return pb.ListKmsKeysResponse(result=[cv.kms_key_to_pb(k) for k in result])

    @rpc.edge(ERRORS)
    @_exactly_once
    async def SetKmsKeyEnabled(
        self, request: pb.SetKmsKeyEnabledRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetKmsKeyEnabledResponse:
        result = await self._service.set_kms_key_enabled(request.key, request.enabled)
        return pb.SetKmsKeyEnabledResponse(result=cv.kms_key_to_pb(result))

    @rpc.edge(ERRORS)
    @_exactly_once
    async def GenerateKmsDataKey(
        self, request: pb.GenerateKmsDataKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateKmsDataKeyResponse:
        key, plaintext, ciphertext = await self._service.generate_data_key(request.key, request.context)
        return pb.GenerateKmsDataKeyResponse(
            key=cv.kms_key_to_pb(key), plaintext=plaintext, ciphertext=ciphertext
        )

    @rpc.edge(ERRORS)
    async def GetKmsDataKey(
        self, request: pb.GetKmsDataKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetKmsDataKeyResponse:
        key, plaintext = await self._service.decrypt(request.ciphertext, request.context)
        return pb.GetKmsDataKeyResponse(key=cv.kms_key_to_pb(key), plaintext=plaintext)

    @rpc.edge(ERRORS)
    @_exactly_once
    async def ResealMasterKeys(
        self, request: pb.ResealMasterKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResealMasterKeysResponse:
        page = await self._service.reseal_master_keys(request.target, request.cursor, request.limit)
        return pb.ResealMasterKeysResponse(
            active=page.active,
            resealed=page.resealed,
            in_use=page.in_use,
            next_cursor=page.next_cursor,
            done=page.done,
            shards=page.shards,
        )

    async def Batch(self, request: pb.BatchRequest, context: grpc.aio.ServicerContext) -> pb.BatchResponse:
        """Each call through its own method, concurrently (rpc_batch.py); its edge ends it alone.
        Each is refused (RoleNotAllowed) unless the caller's role may make that call alone."""
        role = rpc_auth.caller_role(context)  # None: a server without mutual TLS checks no role

        def permitted(name: str) -> bool:
            return role is None or rpc_auth.allowed(f"/cairn.metadata.v1.Metadata/{name}", role, None)

        return await run_batch(request, lambda name: getattr(self, name), permitted)


async def start_server(
    service: MetadataService, host: str, port: int, server: grpc.aio.Server | None = None
) -> tuple[grpc.aio.Server, int]:
    """Serve `service` on host:port (0 picks a port) and start; returns (server, bound port).
    `server` defaults to `cairn.rpc.server()` (tests pass one with interceptors)."""
    server = server or rpc.server()
    metadata_pb2_grpc.add_MetadataServicer_to_server(MetadataServicer(service), server)
    bound = rpc.bind(server, f"{host}:{port}")
    await server.start()
    return server, bound
