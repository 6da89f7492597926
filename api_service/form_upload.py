"""Browser form uploads (POST Object: a `multipart/form-data` POST on the bucket URL): the checks S3
makes before the form's own authentication.

A form carries its credentials in its body (a policy and its signature), so the app routes it here
before header authentication. The form is read only up to the part named `file` (S3 ignores the
fields after it) and never past `MAX_PRE_DATA` bytes; the file itself is not read. Answers, in
the order S3 gives them (as recorded from S3; its error table names two of them differently):

1. not `multipart/form-data`: 412 PreconditionFailed, Condition "Bucket POST must be of the
   enclosure-type multipart/form-data";
2. no boundary, or framing that is not multipart: 400 MalformedPOSTRequest;
3. more than `MAX_PRE_DATA` bytes before the file: 400 MaxPostPreDataLengthExceeded;
4. no `file` part: 400 InvalidArgument "POST requires exactly one file upload per request.";
5. no `key` field before the file: 400 InvalidArgument naming `key`;
6. some signature fields but not all: 400 InvalidArgument naming the first one missing;
7. no signature fields: an anonymous upload, and no Cairn bucket accepts those: 403 AccessDenied;
8. a complete signed form: 501 NotImplemented (checking its policy and storing the file is not
   built yet).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping

from starlette.responses import Response

from . import errors
from .errors import AccessDenied, InvalidArgument, MalformedPOSTRequest, MaxPostPreDataLengthExceeded

MAX_PRE_DATA = 20480
"""Bytes of a form S3 reads before its `file` part."""

# The fields of each signature form, in the order S3 names the first missing one.
_SIGV4_FIELDS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Policy")
_SIGV2_FIELDS = ("AWSAccessKeyId", "Signature", "Policy")


async def post_object(headers: Mapping[str, str], body: AsyncIterable[bytes]) -> Response:
    """Answer a form upload to a bucket (see the module docstring for the order of the checks)."""
    media_type, _, params = headers.get("content-type", "").partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        raise errors.PreconditionFailed(
            Condition="Bucket POST must be of the enclosure-type multipart/form-data"
        )
    fields = await read_fields(_boundary(params), body)
    if "key" not in fields:
        raise InvalidArgument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the "
            "order of the fields.",
            ArgumentName="key",
            ArgumentValue="",
        )
    signature_fields = _SIGV4_FIELDS if _signs(fields, _SIGV4_FIELDS) else _SIGV2_FIELDS
    if not _signs(fields, signature_fields):
        raise AccessDenied()  # anonymous: Cairn has no publicly writable buckets
    missing = [name for name in signature_fields if name.lower() not in fields]
    if missing:
        raise InvalidArgument(
            f"Bucket POST must contain a field named '{missing[0]}'.  If it is specified, please check "
            "the order of the fields.",
            ArgumentName=missing[0],
            ArgumentValue="",
        )
    raise errors.NotImplemented("POST object uploads (browser forms) are not implemented.")


def _signs(fields: Mapping[str, str], signature_fields: tuple[str, ...]) -> bool:
    """Whether the form carries any of these signature fields (a policy alone signs nothing)."""
    return any(name.lower() in fields for name in signature_fields if name != "Policy")


def _boundary(params: str) -> bytes:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    raise MalformedPOSTRequest()


async def read_fields(boundary: bytes, body: AsyncIterable[bytes]) -> dict[str, str]:
    """The fields before the `file` part (names lower-cased, the first of a name wins); raises
    unless a `file` part follows them within MAX_PRE_DATA bytes."""
    buffer = bytearray()
    async for piece in body:
        buffer += piece
        found = _parse(bytes(buffer), boundary, ended=False)
        if found is not None:
            return found
        if len(buffer) > MAX_PRE_DATA:
            if b"--" + boundary not in buffer:
                raise MalformedPOSTRequest()
            raise MaxPostPreDataLengthExceeded(MaxPostPreDataLengthBytes=MAX_PRE_DATA)
    found = _parse(bytes(buffer), boundary, ended=True)
    if found is None:  # the body ended inside a part
        raise MalformedPOSTRequest()
    return found


def _parse(data: bytes, boundary: bytes, *, ended: bool) -> dict[str, str] | None:
    """Fields of `data` if it holds the head of the `file` part; None if more data is needed."""
    delimiter = b"--" + boundary
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
        name, is_file = _disposition(data[at + 2 : head_end])
        if is_file:
            if at > MAX_PRE_DATA:
                raise MaxPostPreDataLengthExceeded(MaxPostPreDataLengthBytes=MAX_PRE_DATA)
            return fields
        value_end = data.find(b"\r\n" + delimiter, head_end + 4)
        if value_end < 0:
            break
        fields.setdefault(name.lower(), data[head_end + 4 : value_end].decode("utf-8", "replace"))
        at = value_end + 2 + len(delimiter)
    if ended:
        raise MalformedPOSTRequest()
    return None


def _disposition(head: bytes) -> tuple[str, bool]:
    """(field name, whether this is the file part) from a part's headers."""
    for line in head.decode("latin-1").split("\r\n"):
        header, _, value = line.partition(":")
        if header.strip().lower() != "content-disposition":
            continue
        kind, *params = value.split(";")
        name = ""
        for param in params:
            key, _, text = param.strip().partition("=")
            if key.strip().lower() == "name":
                name = text.strip().strip('"')
        return name, kind.strip().lower() == "form-data" and name.lower() == "file"
    raise MalformedPOSTRequest()


def _no_file() -> InvalidArgument:
    return InvalidArgument(
        "POST requires exactly one file upload per request.", ArgumentName="file", ArgumentValue="0"
    )
