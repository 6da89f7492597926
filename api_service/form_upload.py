"""Browser form uploads (POST Object: a `multipart/form-data` POST on the bucket URL).

A form carries its credentials in its body (a policy and its signature), so the app routes it here
before header authentication. The form is read up to the part named `file` (never past
`MAX_PRE_DATA` bytes); the fields after the file are ignored, as S3 ignores them. Answers, in the
order S3 gives them (as recorded from S3; its error table names two of them differently):

1. not `multipart/form-data`: 412 PreconditionFailed, Condition "Bucket POST must be of the
   enclosure-type multipart/form-data";
2. no boundary, or framing that is not multipart: 400 MalformedPOSTRequest;
3. more than `MAX_PRE_DATA` bytes before the file: 400 MaxPostPreDataLengthExceeded;
4. no `file` part: 400 InvalidArgument "POST requires exactly one file upload per request.";
5. no `key` field before the file: 400 InvalidArgument naming `key`;
6. some signature fields but not all: 400 InvalidArgument naming the first one missing;
7. the signature (form_policy: SigV4 or V2 over the policy text): 403 InvalidAccessKeyId or
   SignatureDoesNotMatch; the policy: 400 InvalidPolicyDocument, 403 AccessDenied when expired,
   a condition fails or a field is not named by one;
8. authorization of `s3:PutObject` on the key (access.py; a form without signature fields is
   anonymous, allowed only by a bucket policy), then the upload itself (`x-amz-meta-*`,
   Content-Type and the other object headers, `x-amz-storage-class`, `tagging` XML, `acl` as the
   `x-amz-acl` header; `${filename}` in `key` is the file part's filename). The file streams
   into the blob store; `content-length-range` is enforced as it arrives (400 EntityTooLarge /
   EntityTooSmall), before anything is committed.

Success: `success_action_redirect` (or `redirect`) with a URL: 303 to it with `bucket`, `key`
and `etag` in its query; else `success_action_status` 200 or 201 (a PostResponse XML document)
and otherwise 204. ETag, Location and the version id are response headers.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from urllib.parse import quote, urlencode, urlsplit

from starlette.responses import Response

from cairn.metadata.models import VersioningState

from . import errors, form_policy, ownership, sse, tagging
from .context import S3Request, Services
from .errors import (
    EntityTooLarge,
    EntityTooSmall,
    InvalidAccessKeyId,
    InvalidArgument,
    MalformedPOSTRequest,
    MaxPostPreDataLengthExceeded,
    SignatureDoesNotMatch,
)
from .handlers_object import write_stream
from .ingest import Ingest
from .object_headers import attrs_from_headers, check_key, refuse_unsupported_features, version_headers
from .router import Endpoint
from .s3_xml import Doc
from .sigv4 import ANONYMOUS, AuthenticatedRequest, SecretLookup
from .sigv4_credentials import ALGORITHM, _parse_credential, request_time

MAX_PRE_DATA = 20480
"""Bytes of a form S3 reads before its `file` part."""

# The fields of each signature form, in the order S3 names the first missing one.
_SIGV4_FIELDS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Policy")
_SIGV2_FIELDS = ("AWSAccessKeyId", "Signature", "Policy")
# Form fields that are object headers under the same name.
_HEADER_FIELDS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
)


@dataclasses.dataclass(frozen=True, slots=True)
class FormRequest:
    """The parts of the HTTP request a form upload needs besides its body."""

    endpoint: Endpoint
    raw_path: str
    headers: Mapping[str, str]
    request_id: str
    client_ip: str = ""
    secure: bool = False


async def post_object(
    request: FormRequest, body: AsyncIterable[bytes], lookup: SecretLookup, services: Services
) -> Response:
    """Answer a form upload to a bucket (see the module docstring for the order of the checks)."""
    media_type, _, params = request.headers.get("content-type", "").partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        raise errors.PreconditionFailed(
            Condition="Bucket POST must be of the enclosure-type multipart/form-data"
        )
    reader = FormReader(_boundary(params), body)
    fields = await reader.fields()
    if "key" not in fields:
        raise InvalidArgument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the "
            "order of the fields.",
            ArgumentName="key",
            ArgumentValue="",
        )
    signature_fields = _SIGV4_FIELDS if _signs(fields, _SIGV4_FIELDS) else _SIGV2_FIELDS
    auth = ANONYMOUS
    key = fields["key"].replace("${filename}", reader.filename)
    length_range: tuple[int, int] | None = None
    if _signs(fields, signature_fields):
        missing = [name for name in signature_fields if name.lower() not in fields]
        if missing:
            raise InvalidArgument(
                f"Bucket POST must contain a field named '{missing[0]}'.  If it is specified, please "
                "check the order of the fields.",
                ArgumentName=missing[0],
                ArgumentValue="",
            )
        auth = await _authenticate(fields, lookup, services)
        policy = form_policy.parse(fields["policy"])
        form_policy.check(policy, {**fields, "bucket": request.endpoint.bucket, "key": key}, services.clock())
        length_range = policy.length_range
    req = S3Request(
        dataclasses.replace(request.endpoint, key=key),
        auth,
        "POST",
        request.raw_path,
        # encryption fields ask as the headers would (sse.requested reads them from the request)
        {**request.headers, **{n: v for n, v in fields.items() if n.startswith(sse.HEADER)}},
        body,
        services,
        request.request_id,
        client_ip=request.client_ip,
        secure=request.secure,
    )
    bucket = await req.bucket()
    check_key(key)
    as_headers = {name: fields[name] for name in _HEADER_FIELDS if name in fields}
    as_headers.update({name: value for name, value in fields.items() if name.startswith("x-amz-meta-")})
    if "acl" in fields:
        as_headers["x-amz-acl"] = fields["acl"]
    # every x-amz-* field counts, so one asking for Object Lock is refused, not ignored
    refuse_unsupported_features({name: v for name, v in fields.items() if name.startswith("x-amz-")})
    encryption = await sse.requested(req)  # the fields' encryption, else the bucket's default
    owner, acl = await ownership.upload_acl(req, bucket, as_headers)
    attrs = attrs_from_headers(as_headers, owner, services.config.max_metadata_size, acl)
    if "tagging" in fields:
        attrs = dataclasses.replace(attrs, tags=tagging.parse(fields["tagging"].encode()))
    file, empty = await _primed(_held_to(reader.file(), length_range))
    ingest = Ingest(file, {}, max_size=services.config.max_put_size)
    blobs = await write_stream(req, key, ingest, empty, encryption=encryption)
    checksums = (ingest.checksum,) if ingest.checksum else ()
    etag = sse.etag(encryption, ingest.etag)
    attrs = dataclasses.replace(
        attrs, size=ingest.size, etag=etag, checksums=checksums, blobs=blobs, encryption=encryption
    )
    version = await services.metadata.put_object(bucket.name, key, attrs)
    headers = {"etag": f'"{version.etag}"', "location": _location(request, bucket.name, key)}
    headers.update(sse.response_headers(encryption, req))
    headers.update(version_headers(version, bucket.versioning != VersioningState.UNVERSIONED))
    return _success(fields, headers, bucket.name, key, version.etag)


async def _authenticate(
    fields: Mapping[str, str], lookup: SecretLookup, services: Services
) -> AuthenticatedRequest:
    """The signer of the form's policy (SigV4 or V2 fields)."""
    if "x-amz-signature" in fields:
        if fields["x-amz-algorithm"] != ALGORITHM:
            raise InvalidArgument(
                "Only AWS4-HMAC-SHA256 is supported for the x-amz-algorithm field.",
                ArgumentName="x-amz-algorithm",
                ArgumentValue=fields["x-amz-algorithm"],
            )
        access_key, date, region, service = _parse_credential(fields["x-amz-credential"], InvalidArgument)
        request_time(fields["x-amz-date"])  # well-formed, or AccessDenied
        creds = await lookup(access_key)
        if creds is None:
            raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
        # the derived key of the credential's day and scope: the S3 API never holds a secret
        key = await creds.signer.sigv4_key(date, region, service)
        expected = form_policy.sigv4_signature(key, fields["policy"])
        matches = hmac.compare_digest(expected.encode(), fields["x-amz-signature"].encode())
    else:
        access_key = fields["awsaccesskeyid"]
        creds = await lookup(access_key)
        if creds is None:
            raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
        # V2 has no derived key: whoever holds the secret compares (cairn.signing.Signer)
        matches = await creds.signer.sigv2_matches(fields["policy"].encode(), fields["signature"])
    if not matches:
        raise SignatureDoesNotMatch(AWSAccessKeyId=access_key)
    return AuthenticatedRequest.unsigned(access_key, creds)


async def _held_to(file: AsyncIterator[bytes], length_range: tuple[int, int] | None) -> AsyncIterator[bytes]:
    """The file, refused as soon as it exceeds the policy's content-length-range (and at its end if
    it falls short of it)."""
    size = 0
    async for piece in file:
        size += len(piece)
        if length_range is not None and size > length_range[1]:
            raise EntityTooLarge(
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=size,
                MaxSizeAllowed=length_range[1],
            )
        yield piece
    if length_range is not None and size < length_range[0]:
        raise EntityTooSmall(
            "Your proposed upload is smaller than the minimum allowed size",
            ProposedSize=size,
            MinSizeAllowed=length_range[0],
        )


async def _primed(stream: AsyncIterator[bytes]) -> tuple[AsyncIterator[bytes], bool]:
    """The stream again, and whether it is empty (its first piece is read to know)."""
    first = await anext(stream, None)

    async def again() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
            async for piece in stream:
                yield piece

    return again(), first is None


def _location(request: FormRequest, bucket: str, key: str) -> str:
    scheme = "https" if request.secure else "http"
    host = request.headers.get("host", "")
    path = request.raw_path.rstrip("/")
    if path.lstrip("/") == bucket:  # path style
        return f"{scheme}://{host}/{bucket}/{quote(key)}"
    return f"{scheme}://{host}/{quote(key)}"


def _success(
    fields: Mapping[str, str], headers: dict[str, str], bucket: str, key: str, etag: str
) -> Response:
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https"):
        query = urlencode({"bucket": bucket, "key": key, "etag": f'"{etag}"'})
        headers["location"] = f"{redirect}{'&' if urlsplit(redirect).query else '?'}{query}"
        return Response(status_code=303, headers=headers)
    status = fields.get("success_action_status", "")
    if status == "201":
        body = (
            Doc("PostResponse")
            .el("Location", headers["location"])
            .el("Bucket", bucket)
            .el("Key", key)
            .el("ETag", f'"{etag}"')
            .render()
        )
        return Response(body, status_code=201, headers=headers, media_type="application/xml")
    return Response(status_code=200 if status == "200" else 204, headers=headers)


def _signs(fields: Mapping[str, str], signature_fields: tuple[str, ...]) -> bool:
    """Whether the form carries any of these signature fields (a policy alone signs nothing)."""
    return any(name.lower() in fields for name in signature_fields if name != "Policy")


def _boundary(params: str) -> bytes:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    raise MalformedPOSTRequest()


class FormReader:
    """Reads a form: `fields()` up to the file part, then `file()` streams the file's bytes."""

    def __init__(self, boundary: bytes, body: AsyncIterable[bytes]) -> None:
        self._delimiter = b"--" + boundary
        self._body = aiter(body)
        self._buffer = bytearray()
        self.filename = ""

    async def fields(self) -> dict[str, str]:
        """The fields before the `file` part (names lower-cased, the first of a name wins); raises
        unless a `file` part follows them within MAX_PRE_DATA bytes."""
        buffer = self._buffer
        async for piece in self._body:
            buffer += piece
            found = self._parse(bytes(buffer), ended=False)
            if found is not None:
                return found
            if len(buffer) > MAX_PRE_DATA:
                if self._delimiter not in buffer:
                    raise MalformedPOSTRequest()
                raise MaxPostPreDataLengthExceeded(MaxPostPreDataLengthBytes=MAX_PRE_DATA)
        found = self._parse(bytes(buffer), ended=True)
        if found is None:  # the body ended inside a part
            raise MalformedPOSTRequest()
        return found

    async def file(self) -> AsyncIterator[bytes]:
        """The file part's bytes (after `fields()`); the rest of the body is read and ignored.
        A body that ends inside the file is MalformedPOSTRequest."""
        marker = b"\r\n" + self._delimiter
        buffer = self._buffer
        while (at := buffer.find(marker)) < 0:
            keep = len(marker) - 1
            if len(buffer) > keep:
                yield bytes(buffer[:-keep])
                del buffer[:-keep]
            piece = await anext(self._body, None)
            if piece is None:
                raise MalformedPOSTRequest()
            buffer += piece
        if at:
            yield bytes(buffer[:at])
        buffer.clear()
        async for _ in self._body:
            pass

    def _parse(self, data: bytes, *, ended: bool) -> dict[str, str] | None:
        """Fields of `data` if it holds the head of the `file` part (the buffer then keeps what
        follows that head); None if more data is needed."""
        delimiter = self._delimiter
        start = data.find(delimiter)
        if start < 0:
            if ended:
                raise MalformedPOSTRequest()
            return None
        fields: dict[str, str] = {}
        at = start + len(delimiter)
        while True:
            if len(data) < at + 2:
                break
            if data[at : at + 2] == b"--":  # the closing delimiter: no file part
                raise _no_file()
            if data[at : at + 2] != b"\r\n":
                raise MalformedPOSTRequest()
            head_end = data.find(b"\r\n\r\n", at + 2)
            if head_end < 0:
                break
            name, filename = _disposition(data[at + 2 : head_end])
            if filename is not None:
                if at > MAX_PRE_DATA:
                    raise MaxPostPreDataLengthExceeded(MaxPostPreDataLengthBytes=MAX_PRE_DATA)
                self.filename = filename
                self._buffer[:] = data[head_end + 4 :]
                return fields
            value_end = data.find(b"\r\n" + delimiter, head_end + 4)
            if value_end < 0:
                break
            fields.setdefault(name.lower(), data[head_end + 4 : value_end].decode("utf-8", "replace"))
            at = value_end + 2 + len(delimiter)
        if ended:
            raise MalformedPOSTRequest()
        return None


async def read_fields(boundary: bytes, body: AsyncIterable[bytes]) -> dict[str, str]:
    """The fields before a form's `file` part (FormReader.fields)."""
    return await FormReader(boundary, body).fields()


def _disposition(head: bytes) -> tuple[str, str | None]:
    """(field name, its filename if this is the file part, else None) from a part's headers."""
    for line in head.decode("utf-8", "replace").split("\r\n"):
        header, _, value = line.partition(":")
        if header.strip().lower() != "content-disposition":
            continue
        kind, *params = value.split(";")
        name, filename = "", ""
        for param in params:
            key, _, text = param.strip().partition("=")
            if key.strip().lower() == "name":
                name = text.strip().strip('"')
            elif key.strip().lower() == "filename":
                filename = text.strip().strip('"')
        is_file = kind.strip().lower() == "form-data" and name.lower() == "file"
        return name, filename if is_file else None
    raise MalformedPOSTRequest()


def _no_file() -> InvalidArgument:
    return InvalidArgument(
        "POST requires exactly one file upload per request.", ArgumentName="file", ArgumentValue="0"
    )
