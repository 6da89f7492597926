"""Object tagging: GetObjectTagging, PutObjectTagging, DeleteObjectTagging (per version).

Each acts on the version named by `versionId`, or the current one; a delete marker answers 405
MethodNotAllowed, as a GET of it does. The answer carries the version id where GET would.
(`x-amz-tagging` on uploads and `x-amz-tagging-count` on GET/HEAD: handlers_object.py.)
"""

from __future__ import annotations

from starlette.responses import Response

from cairn.metadata.models import NULL_VERSION_ID, Bucket, VersioningState

from . import tagging
from .context import S3Request
from .router import Op

XML = "application/xml"


def _version_header(version_id: str, versioning: VersioningState) -> dict[str, str]:
    if version_id != NULL_VERSION_ID or versioning != VersioningState.UNVERSIONED:
        return {"x-amz-version-id": version_id}
    return {}


async def get_object_tagging(req: S3Request) -> Response:
    bucket = await req.bucket()
    v = await req.metadata.get_object(req.bucket_name, req.key, req.query.get("versionId") or None)
    headers = _version_header(v.version_id, bucket.versioning)
    return Response(tagging.render(v.tags), headers=headers, media_type=XML)


async def _set(req: S3Request, bucket: Bucket, tags: tagging.Tags, status: int) -> Response:
    version_id = await req.metadata.set_object_tags(
        req.bucket_name, req.key, tags, req.query.get("versionId") or None
    )
    return Response(status_code=status, headers=_version_header(version_id, bucket.versioning))


async def put_object_tagging(req: S3Request) -> Response:
    bucket = await req.bucket()
    return await _set(req, bucket, tagging.parse(await req.read_body()), 200)


async def delete_object_tagging(req: S3Request) -> Response:
    return await _set(req, await req.bucket(), (), 204)


TAGGING_HANDLERS = {
    Op.GET_OBJECT_TAGGING: get_object_tagging,
    Op.PUT_OBJECT_TAGGING: put_object_tagging,
    Op.DELETE_OBJECT_TAGGING: delete_object_tagging,
}
