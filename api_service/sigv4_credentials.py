"""Parsing SigV4 credentials from the Authorization header or presigned query parameters.

Checks only the form: the algorithm, the credential scope (date, service `s3`, `aws4_request`),
that the scope date equals the request date, presigned expiry bounds (at most 604800 s).
Signature checking and time checks are sigv4.py's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from .errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidRequest,
)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_PRESIGN_EXPIRES = 604800
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class ParsedCredentials:
    access_key_id: str
    date: str  # YYYYMMDD of the scope
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    presigned: bool
    expires: int = 0


def _parse_credential(credential: str, error: type[Exception]) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) < 5 or parts[-1] != "aws4_request":
        raise error(
            'The credential is malformed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    akid = "/".join(parts[:-4])
    date, region, service = parts[-4], parts[-3], parts[-2]
    if service != "s3":
        raise error(
            f'The credential is malformed; incorrect service "{service}". This endpoint belongs to "s3".'
        )
    if not re.fullmatch(r"\d{8}", date):
        raise error("The credential date is malformed.")
    return akid, date, region, service


def parse_header_auth(auth: str, headers: Mapping[str, str]) -> ParsedCredentials:
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm == "AWS":
            raise InvalidRequest(
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
            )
        raise AuthorizationHeaderMalformed(f"Unsupported authorization type {algorithm!r}.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise AuthorizationHeaderMalformed(f"The authorization header is malformed; {item.strip()!r}.")
        fields[name.strip()] = value.strip()
    try:
        credential, signed, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError as missing:
        raise AuthorizationHeaderMalformed(
            f"The authorization header is missing {missing.args[0]}."
        ) from None
    akid, date, region, service = _parse_credential(credential, AuthorizationHeaderMalformed)
    amz_date = headers.get("x-amz-date")
    if amz_date is None:
        http_date = headers.get("date")
        if http_date is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        try:
            amz_date = parsedate_to_datetime(http_date).astimezone(UTC).strftime(AMZ_DATE_FORMAT)
        except (TypeError, ValueError):
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header") from None
    if amz_date[:8] != date:
        raise AuthorizationHeaderMalformed(
            f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: "{amz_date[:8]}".'
        )
    return ParsedCredentials(
        akid, date, region, service, signed.split(";"), signature, amz_date, presigned=False
    )


def parse_query_auth(query: Mapping[str, str]) -> ParsedCredentials:
    E = AuthorizationQueryParametersError
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise E('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    for name in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if name not in query:
            raise E(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
            )
    akid, date, region, service = _parse_credential(query["X-Amz-Credential"], E)
    try:
        expires = int(query["X-Amz-Expires"])
    except ValueError:
        raise E("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise E("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise E("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    amz_date = query["X-Amz-Date"]
    if amz_date[:8] != date:
        raise E(
            f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: "{amz_date[:8]}".'
        )
    return ParsedCredentials(
        akid,
        date,
        region,
        service,
        query["X-Amz-SignedHeaders"].split(";"),
        query["X-Amz-Signature"],
        amz_date,
        presigned=True,
        expires=expires,
    )


def query_map(query_string: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in query_string.split("&"):
        name, _, value = item.partition("=")
        if name:
            out.setdefault(
                unquote_to_bytes(name).decode("utf-8", "replace"),
                unquote_to_bytes(value).decode("utf-8", "replace"),
            )
    return out


def request_time(amz_date: str) -> datetime:
    try:
        d, t = amz_date[:8], amz_date[9:15]
        if len(amz_date) == 16 and amz_date.isascii() and f"{d}{t}".isdigit() and amz_date[8::7] == "TZ":
            # the form every client sends, read without strptime (a tenth of its cost)
            return datetime(
                int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]), int(t[4:]), tzinfo=UTC
            )
        return datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header") from None
