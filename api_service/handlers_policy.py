"""Bucket policies: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus.

A policy is validated before it is stored (policy.parse_policy: `MalformedPolicy`, 20 KiB at most,
and a user named as a principal must exist) and stored verbatim; GetBucketPolicy returns it as
it was sent. Enforcement is access.py's.
"""

from __future__ import annotations

from starlette.responses import Response

from cairn.metadata import errors as md

from . import s3_xml
from .context import S3Request
from .policy import MAX_BUCKET_POLICY_BYTES, MalformedPolicy, is_public, parse_policy
from .router import Op


async def put_bucket_policy(req: S3Request) -> Response:
    await req.bucket()
    body = await req.read_body()
    if len(body) > MAX_BUCKET_POLICY_BYTES:
        raise MalformedPolicy("Policy exceeds the maximum allowed document size.")
    policy = parse_policy(body, bucket=req.bucket_name)
    for statement in policy.statements:
        for kind, name in statement.principals or ():
            if kind == "AWS" and ":user/" in name:
                try:
                    await req.metadata.get_user(name.split(":user/", 1)[1].rsplit("/", 1)[-1])
                except md.NoSuchUser:
                    raise MalformedPolicy("Invalid principal in policy") from None
    await req.metadata.put_bucket_policy(req.bucket_name, body.decode("utf-8"))
    return Response(status_code=204)


async def get_bucket_policy(req: S3Request) -> Response:
    await req.bucket()
    policy = await req.metadata.get_bucket_policy(req.bucket_name)
    return Response(policy.document, media_type="application/json")


async def delete_bucket_policy(req: S3Request) -> Response:
    await req.bucket()
    await req.metadata.delete_bucket_policy(req.bucket_name)
    return Response(status_code=204)


async def get_bucket_policy_status(req: S3Request) -> Response:
    await req.bucket()
    policy = await req.metadata.get_bucket_policy(req.bucket_name)
    public = is_public(parse_policy(policy.document, bucket=req.bucket_name))
    body = s3_xml.Doc("PolicyStatus").el("IsPublic", "true" if public else "false").render()
    return Response(body, media_type="application/xml")


POLICY_HANDLERS = {
    Op.PUT_BUCKET_POLICY: put_bucket_policy,
    Op.GET_BUCKET_POLICY: get_bucket_policy,
    Op.DELETE_BUCKET_POLICY: delete_bucket_policy,
    Op.GET_BUCKET_POLICY_STATUS: get_bucket_policy_status,
}
