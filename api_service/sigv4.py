"""AWS Signature Version 4 verification for S3, in every form current clients use.

Credentials arrive either in the `Authorization` header or in presigned query parameters;
the payload hash (`x-amz-content-sha256`, `UNSIGNED-PAYLOAD` for presigned URLs) picks the
payload mode. `verify` checks the request signature and returns an `AuthenticatedRequest`,
the only thing handlers accept; its `body()` wraps the wire body and verifies the payload as
it streams: the SHA-256 of a signed body, every chunk signature of a signed streaming body
(chained from the seed signature), the trailer signature, and the declared decoded length.
A failure raises from inside the stream, before the consumer can commit anything.

Canonical form as S3 computes it (and botocore signs it): the URI path is re-encoded from its
decoded bytes keeping `/` and the unreserved set (no double encoding, no dot-segment removal);
query pairs are re-encoded and sorted; header values are trimmed with inner whitespace runs
collapsed. Every signature comparison is constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, unquote_to_bytes

from cairn.signing import Signer

from .aws_chunked import AwsChunkedDecoder
from .errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    IncompleteBody,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    MissingContentLength,
    RequestExpired,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from .sigv2 import check_header_v2, check_presigned_v2, parse_header_v2
from .sigv4_credentials import ALGORITHM, parse_header_auth, parse_query_auth, query_map, request_time

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class PayloadMode(enum.Enum):
    SIGNED = "signed"  # hex SHA-256 of the body in x-amz-content-sha256
    UNSIGNED = "UNSIGNED-PAYLOAD"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    @property
    def streaming(self) -> bool:
        return self.value.startswith("STREAMING-")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the credential lookup answers for an access key id: who it is, and a `Signer` that
    checks signatures with its secret (which the S3 API does not hold: cairn.signing)."""

    signer: Signer
    owner_id: str
    is_root: bool = False
    user_name: str = ""
    arn: str = ""  # the user's ARN, which policies name


SecretLookup = Callable[[str], Awaitable[Credentials | None]]
"""Access key id -> its credentials, or None if unknown (callers cache with a short TTL)."""


@dataclass(frozen=True, slots=True)
class RawRequest:
    """The parts of an HTTP request that SigV4 covers. Header names are lower case."""

    method: str
    raw_path: str  # as on the wire, percent-encoded
    query_string: str  # as on the wire, without '?'
    headers: Mapping[str, str]  # repeated headers joined with ','


@dataclass(frozen=True, slots=True)
class _SigningContext:
    key: bytes
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, data_sha256_hex: str) -> str:
        sts = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous, EMPTY_SHA256, data_sha256_hex]
        )
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def trailer_signature(self, previous: str, canonical_trailers: bytes) -> str:
        sts = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                self.amz_date,
                self.scope,
                previous,
                hashlib.sha256(canonical_trailers).hexdigest(),
            ]
        )
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()


class VerifiedBody:
    """Async iterator of decoded payload bytes; raises on any payload verification failure."""

    def __init__(self, auth: AuthenticatedRequest, wire: AsyncIterable[bytes]) -> None:
        self._auth = auth
        self._wire = wire
        self.trailers: dict[str, str] = {}
        self.length = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        auth = self._auth
        mode = auth.payload_mode
        if not mode.streaming:
            sha = hashlib.sha256() if mode is PayloadMode.SIGNED else None
            async for data in self._wire:
                if not data:
                    continue
                if sha is not None:
                    sha.update(data)
                self.length += len(data)
                yield bytes(data)
            if sha is not None and not hmac.compare_digest(sha.hexdigest(), auth.content_sha256.lower()):
                raise XAmzContentSHA256Mismatch(
                    ClientComputedContentSHA256=auth.content_sha256, S3ComputedContentSHA256=sha.hexdigest()
                )
            return
        signed = mode in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)
        ctx = auth.signing
        decoder = AwsChunkedDecoder(
            signer=ctx if signed else None,
            seed_signature=ctx.seed_signature if ctx else "",
            signed_trailer=mode is PayloadMode.STREAMING_SIGNED_TRAILER,
        )
        declared = auth.decoded_length
        async for data in self._wire:
            for piece in decoder.feed(data):
                self.length += len(piece)
                if declared is not None and self.length > declared:
                    raise IncompleteBody("The body is longer than x-amz-decoded-content-length.")
                yield piece
        decoder.close()
        if declared is not None and self.length != declared:
            raise IncompleteBody()
        missing = [name for name in auth.trailer_names if name not in decoder.trailers]
        if missing:
            raise InvalidRequest(f"The declared trailer {missing[0]} was not sent.")
        self.trailers = decoder.trailers


@dataclass(frozen=True, slots=True)
class AuthenticatedRequest:
    """A request whose signature checked out. Handlers accept only this type."""

    access_key_id: str
    owner_id: str
    is_root: bool
    payload_mode: PayloadMode
    content_sha256: str = ""  # the hex digest when payload_mode is SIGNED
    decoded_length: int | None = None  # x-amz-decoded-content-length of streaming bodies
    trailer_names: tuple[str, ...] = ()  # x-amz-trailer, lower case
    presigned: bool = False
    signing: _SigningContext | None = field(default=None, repr=False)
    user_name: str = ""
    arn: str = ""  # "" for the anonymous caller

    @classmethod
    def unsigned(
        cls, access_key_id: str, creds: Credentials, presigned: bool = False
    ) -> AuthenticatedRequest:
        """A request signed by `creds` whose payload is not signed (SigV2, form uploads)."""
        return cls(
            access_key_id,
            creds.owner_id,
            creds.is_root,
            PayloadMode.UNSIGNED,
            presigned=presigned,
            user_name=creds.user_name,
            arn=creds.arn,
        )

    @property
    def anonymous(self) -> bool:
        return not self.access_key_id

    def body(self, wire: AsyncIterable[bytes]) -> VerifiedBody:
        """Wrap the wire body: yields the decoded payload, verifying it as it streams."""
        return VerifiedBody(self, wire)


ANONYMOUS = AuthenticatedRequest("", "", False, PayloadMode.UNSIGNED)
"""A request with no credentials at all: what it may do is up to the bucket's policy (access.py)."""


def _anonymous(headers: Mapping[str, str]) -> AuthenticatedRequest:
    """An anonymous request; a plain body's `x-amz-content-sha256` is still checked. A streaming
    (aws-chunked) payload needs a signature to chain from: AccessDenied without one."""
    declared = headers.get("x-amz-content-sha256")
    if declared is None or declared == PayloadMode.UNSIGNED.value:
        return ANONYMOUS
    mode = _payload_mode(declared)
    if mode.streaming:
        raise AccessDenied("A streaming payload needs a signed request.")
    return dataclasses.replace(ANONYMOUS, payload_mode=mode, content_sha256=declared)


# --- canonical request ------------------------------------------------------------------


def _aws_quote(raw: bytes, safe: str) -> str:
    return quote(raw, safe=safe)


def canonical_uri_candidates(raw_path: str) -> list[str]:
    """Canonical URIs to try: re-encoded from the decoded path, then the path as sent."""
    canonical = _aws_quote(unquote_to_bytes(raw_path), "/~") or "/"
    return [canonical] if canonical == raw_path else [canonical, raw_path]


def canonical_query(query_string: str, exclude: str | None = None) -> str:
    pairs: list[tuple[str, str]] = []
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        key = _aws_quote(unquote_to_bytes(name), "-_.~")
        if exclude is not None and key == exclude:
            continue
        pairs.append((key, _aws_quote(unquote_to_bytes(value), "-_.~")))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(headers: Mapping[str, str], signed: list[str]) -> str:
    lines = []
    for name in signed:
        value = headers.get(name)
        if value is None:
            raise SignatureDoesNotMatch(f"The signed header {name} is missing.")
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "".join(lines)


def _signature(key: bytes, amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
    sts = "\n".join([ALGORITHM, amz_date, scope, digest])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


#: The x-amz-content-sha256 values that name a mode (a body's SHA-256 names SIGNED).
_NAMED_MODES = {mode.value: mode for mode in PayloadMode if mode is not PayloadMode.SIGNED}


def _payload_mode(value: str) -> PayloadMode:
    mode = _NAMED_MODES.get(value)
    if mode is not None:
        return mode
    if _HEX64.match(value):
        return PayloadMode.SIGNED
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=value,
    )


async def _verify_v2(
    request: RawRequest,
    query: Mapping[str, str],
    lookup: SecretLookup,
    now: datetime,
    vhost_bucket: str | None,
    *,
    header: bool,
) -> AuthenticatedRequest:
    """A SigV2 request: the Authorization header form, or a presigned URL."""
    access_key = parse_header_v2(request.headers["authorization"])[0] if header else query["AWSAccessKeyId"]
    creds = await lookup(access_key)
    check = check_header_v2 if header else check_presigned_v2
    await check(
        request.method,
        request.raw_path,
        request.query_string,
        request.headers,
        query,
        creds.signer if creds else None,
        now,
        vhost_bucket,
    )
    if creds is None:  # pragma: no cover - the check raised
        raise InvalidAccessKeyId()
    if request.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
        raise InvalidRequest("An aws-chunked payload needs Signature Version 4.")
    return AuthenticatedRequest.unsigned(access_key, creds, presigned=not header)


async def verify(
    request: RawRequest,
    lookup: SecretLookup,
    *,
    now: datetime,
    region: str | None = None,
    vhost_bucket: str | None = None,
) -> AuthenticatedRequest:
    """Check the request's SigV4 signature; raise the S3 error AWS would answer otherwise.

    `region`, when given, is the only region accepted in the credential scope; `vhost_bucket` is the
    bucket named by a virtual-hosted Host header (legacy V2 presigned URLs sign `/bucket/key`).
    """
    headers = request.headers
    query = query_map(request.query_string)
    v2_header = headers.get("authorization", "").startswith("AWS ")
    v2_query = "authorization" not in headers and {"Signature", "AWSAccessKeyId", "Expires"} <= set(query)
    if v2_header or (
        v2_query and not {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"} & set(query)
    ):
        return await _verify_v2(request, query, lookup, now, vhost_bucket, header=v2_header)
    if "authorization" in headers:
        parsed = parse_header_auth(headers["authorization"], headers)
    elif "X-Amz-Signature" in query or "X-Amz-Credential" in query or "X-Amz-Algorithm" in query:
        parsed = parse_query_auth(query)
    else:
        return _anonymous(headers)
    if region is not None and parsed.region != region:
        error = AuthorizationHeaderMalformed if not parsed.presigned else AuthorizationQueryParametersError
        raise error(
            f"The authorization header is malformed; the region '{parsed.region}' is wrong; "
            f"expecting '{region}'",
            Region=region,
        )
    if "host" not in parsed.signed_headers:
        raise AccessDenied("The host header must be signed.")
    if parsed.signed_headers != sorted(parsed.signed_headers):
        raise SignatureDoesNotMatch("SignedHeaders must be sorted.")

    t = request_time(parsed.amz_date)
    if parsed.presigned:
        if now < t - MAX_SKEW:
            raise AccessDenied("Request is not valid yet")
        if now > t + timedelta(seconds=parsed.expires):
            raise RequestExpired(
                Expires=(t + timedelta(seconds=parsed.expires)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
    elif abs(now - t) > MAX_SKEW:
        raise RequestTimeTooSkewed(
            RequestTime=parsed.amz_date,
            ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            MaxAllowedSkewMilliseconds=900000,
        )

    content_sha256 = headers.get("x-amz-content-sha256")
    if content_sha256 is None:
        if not parsed.presigned:
            raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        content_sha256 = "UNSIGNED-PAYLOAD"
    mode = _payload_mode(content_sha256)

    creds = await lookup(parsed.access_key_id)
    if creds is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=parsed.access_key_id)

    key = await creds.signer.sigv4_key(parsed.date, parsed.region, parsed.service)
    scope = f"{parsed.date}/{parsed.region}/{parsed.service}/aws4_request"
    cq = canonical_query(request.query_string, exclude="X-Amz-Signature" if parsed.presigned else None)
    ch = canonical_headers(headers, parsed.signed_headers)
    signed_names = ";".join(parsed.signed_headers)
    matched = False
    for uri in canonical_uri_candidates(request.raw_path):
        cr = "\n".join([request.method, uri, cq, ch, signed_names, content_sha256])
        expected = _signature(key, parsed.amz_date, scope, cr)
        if hmac.compare_digest(expected.encode(), parsed.signature.encode()):
            matched = True
            break
    if not matched:
        raise SignatureDoesNotMatch(AWSAccessKeyId=parsed.access_key_id)
    # Every x-amz-* header must be covered by the signature: otherwise whoever holds a signed
    # request (a presigned PUT, a captured one) could add `x-amz-copy-source` or metadata.
    signed = set(parsed.signed_headers)
    unsigned = sorted({name.lower() for name in headers.keys() if name.lower().startswith("x-amz-")} - signed)
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )

    decoded_length: int | None = None
    if mode.streaming:
        raw_len = headers.get("x-amz-decoded-content-length")
        if raw_len is None:
            raise MissingContentLength()
        try:
            decoded_length = int(raw_len)
        except ValueError:
            raise InvalidArgument(
                "x-amz-decoded-content-length is not a number", ArgumentName="x-amz-decoded-content-length"
            ) from None
        if decoded_length < 0:
            raise InvalidArgument("x-amz-decoded-content-length is negative")
    trailers = tuple(t.strip().lower() for t in headers.get("x-amz-trailer", "").split(",") if t.strip())
    return AuthenticatedRequest(
        access_key_id=parsed.access_key_id,
        owner_id=creds.owner_id,
        is_root=creds.is_root,
        payload_mode=mode,
        content_sha256=content_sha256 if mode is PayloadMode.SIGNED else "",
        decoded_length=decoded_length,
        trailer_names=trailers,
        presigned=parsed.presigned,
        signing=_SigningContext(key, parsed.amz_date, scope, parsed.signature),
        user_name=creds.user_name,
        arn=creds.arn,
    )
