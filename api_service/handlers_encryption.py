"""Bucket default encryption: Put/Get/DeleteBucketEncryption.

The configuration (one `Rule` with `ApplyServerSideEncryptionByDefault`) is validated and kept in
the metadata service as the bucket's `encryption` configuration document (JSON of the parsed
rule); sse.requested applies it to writes that ask for no encryption themselves. A bucket without
one answers 404 ServerSideEncryptionConfigurationNotFoundError on GET. `aws:kms` takes an
optional KMSMasterKeyID (resolved when a write uses it: sse_kms.py); `aws:kms:dsse` answers 501
NotImplemented.
"""

from __future__ import annotations

from starlette.responses import Response

from . import s3_xml, sse
from .context import S3Request
from .errors import InvalidArgument, MalformedXML, ServerSideEncryptionConfigurationNotFoundError
from .errors import NotImplemented as S3NotImplemented
from .router import Op

XML = "application/xml"


def parse(body: bytes) -> sse.DefaultEncryption:
    root = s3_xml.parse_xml(body)
    rules = root.findall("Rule")
    if root.tag != "ServerSideEncryptionConfiguration" or len(rules) != 1:
        raise MalformedXML()
    apply = rules[0].find("ApplyServerSideEncryptionByDefault")
    if apply is None:
        raise MalformedXML()
    algorithm = (apply.findtext("SSEAlgorithm") or "").strip()
    kms_key_id = (apply.findtext("KMSMasterKeyID") or "").strip()
    bucket_key = (rules[0].findtext("BucketKeyEnabled") or "false").strip().lower() == "true"
    if algorithm == "aws:kms:dsse":
        raise S3NotImplemented(f"Cairn does not implement {algorithm} encryption.")
    if algorithm not in (sse.AES256, sse.KMS):
        raise MalformedXML()
    if kms_key_id and algorithm != sse.KMS:
        raise InvalidArgument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            ArgumentName="ApplyServerSideEncryptionByDefault",
        )
    return sse.DefaultEncryption(algorithm, kms_key_id, bucket_key)


async def put_bucket_encryption(req: S3Request) -> Response:
    await req.bucket()
    config = parse(await req.read_body())
    await req.metadata.put_bucket_config(req.bucket_name, sse.BUCKET_CONFIG_KIND, config.to_json())
    return Response(status_code=200)


async def get_bucket_encryption(req: S3Request) -> Response:
    await req.bucket()
    config = await sse.bucket_default(req)
    if config is None:
        raise ServerSideEncryptionConfigurationNotFoundError(BucketName=req.bucket_name)
    doc = s3_xml.Doc("ServerSideEncryptionConfiguration").open("Rule")
    doc.open("ApplyServerSideEncryptionByDefault").el("SSEAlgorithm", config.algorithm)
    doc.opt("KMSMasterKeyID", config.kms_key_id).close("ApplyServerSideEncryptionByDefault")
    doc.el("BucketKeyEnabled", config.bucket_key_enabled).close("Rule")
    return Response(doc.render(), media_type=XML)


async def delete_bucket_encryption(req: S3Request) -> Response:
    await req.bucket()
    await req.metadata.delete_bucket_config(req.bucket_name, sse.BUCKET_CONFIG_KIND)
    return Response(status_code=204)


ENCRYPTION_HANDLERS = {
    Op.PUT_BUCKET_ENCRYPTION: put_bucket_encryption,
    Op.GET_BUCKET_ENCRYPTION: get_bucket_encryption,
    Op.DELETE_BUCKET_ENCRYPTION: delete_bucket_encryption,
}
