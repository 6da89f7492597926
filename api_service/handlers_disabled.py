"""A feature that is off on every Cairn bucket, answered as S3 answers a bucket where it is off
(not 501, which clients such as s3cmd retry for about 46 s).

Object Lock: no bucket has it. Reading the configuration is 404 ObjectLockConfigurationNotFoundError;
reading or setting an object's retention or legal hold is 400 InvalidRequest "Bucket is missing
Object Lock Configuration"; setting the configuration is 409 InvalidBucketState unless versioning
is Enabled, where S3 would turn Object Lock on and Cairn, which has none, answers 501.
"""

from __future__ import annotations

from typing import NoReturn

from cairn.metadata.models import VersioningState

from . import errors
from .context import S3Request
from .errors import InvalidBucketState, InvalidRequest
from .router import Op

XML = "application/xml"
NO_OBJECT_LOCK = "Bucket is missing Object Lock Configuration"
"""S3's wording for retention and legal hold; uploads get object_headers.NO_OBJECT_LOCK's (no spaces)."""


async def get_object_lock_configuration(req: S3Request) -> NoReturn:
    await req.bucket()
    raise errors.ObjectLockConfigurationNotFoundError()


async def put_object_lock_configuration(req: S3Request) -> NoReturn:
    bucket = await req.bucket()
    if bucket.versioning != VersioningState.ENABLED:
        raise InvalidBucketState(
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
        )
    raise errors.NotImplemented("Cairn does not implement Object Lock.")


async def object_lock_setting(req: S3Request) -> NoReturn:
    """Get/PutObjectRetention and Get/PutObjectLegalHold."""
    await req.bucket()
    raise InvalidRequest(NO_OBJECT_LOCK)


DISABLED_FEATURE_HANDLERS = {
    Op.GET_OBJECT_LOCK_CONFIGURATION: get_object_lock_configuration,
    Op.PUT_OBJECT_LOCK_CONFIGURATION: put_object_lock_configuration,
    Op.GET_OBJECT_RETENTION: object_lock_setting,
    Op.PUT_OBJECT_RETENTION: object_lock_setting,
    Op.GET_OBJECT_LEGAL_HOLD: object_lock_setting,
    Op.PUT_OBJECT_LEGAL_HOLD: object_lock_setting,
}
