"""All S3 XML: rendering response bodies and parsing request bodies, hardened.

Rendering writes the S3 2006-03-01 namespace documents by hand (escaped text, ETags quoted,
times as `YYYY-MM-DDTHH:MM:SS.mmmZ`). With `encoding-type=url`, keys, prefixes, delimiters and
markers are percent-encoded (a literal `+` becomes `%2B`; botocore decodes with unquote_plus).

Parsing accepts only UTF-8, refuses any DTD or entity declaration from inside expat's declaration
handlers (no entity expansion, no external entities, whatever encoding the document claims), caps
the body size, ignores the namespace, and raises `MalformedXML` for anything that does not match
the schema.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn
from urllib.parse import quote
from xml.parsers import expat
from xml.sax.saxutils import escape

from cairn.metadata.models import (
    Bucket,
    Checksum,
    ListObjectsV1Page,
    ListObjectsV2Page,
    ListPartsPage,
    ListUploadsPage,
    ListVersionsPage,
    ObjectSummary,
)

from .errors import InvalidArgument, MalformedXML

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_XML_BODY = 2 * 1024 * 1024
MAX_DELETE_KEYS = 1000


# --- rendering ---------------------------------------------------------------------------


def iso_time(ms: int) -> str:
    t = datetime.fromtimestamp(ms / 1000, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def quote_etag(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


class Doc:
    """A tiny XML writer: `el` adds a leaf, `open`/`close` a container."""

    def __init__(self, root: str, url_encode: bool = False) -> None:
        self._root = root
        self._parts = [HEADER, f'<{root} xmlns="{NS}">']
        self.url_encode = url_encode

    def el(self, name: str, value: object, encode: bool = False) -> Doc:
        text = (
            value
            if isinstance(value, str)
            else ("true" if value is True else "false" if value is False else str(value))
        )
        if encode and self.url_encode:
            text = quote(text, safe="/")
        self._parts.append(f"<{name}>{escape(text)}</{name}>")
        return self

    def opt(self, name: str, value: object | None, encode: bool = False) -> Doc:
        if value is not None and value != "":
            self.el(name, value, encode)
        return self

    def open(self, name: str) -> Doc:
        self._parts.append(f"<{name}>")
        return self

    def close(self, name: str) -> Doc:
        self._parts.append(f"</{name}>")
        return self

    def owner(self, owner_id: str, tag: str = "Owner") -> Doc:
        return self.open(tag).el("ID", owner_id).el("DisplayName", owner_id).close(tag)

    def common_prefixes(self, prefixes: Iterable[str]) -> Doc:
        for p in prefixes:
            self.open("CommonPrefixes").el("Prefix", p, encode=True).close("CommonPrefixes")
        return self

    def checksums(self, values: Iterable[tuple[str, str]]) -> Doc:
        """(XML element, base64 value) pairs, e.g. ("ChecksumCRC32", "DUoRhQ==")."""
        for element, value in values:
            self.el(element, value)
        return self

    def render(self) -> bytes:
        return ("".join(self._parts) + f"</{self._root}>").encode()


def location_constraint(region: str) -> bytes:
    body = escape(region) if region and region != "us-east-1" else ""
    return f'{HEADER}<LocationConstraint xmlns="{NS}">{body}</LocationConstraint>'.encode()


XSI = "http://www.w3.org/2001/XMLSchema-instance"


def owner_full_control(owner_id: str) -> bytes:
    """The ACL of a bucket or object whose ACLs are disabled: its owner has FULL_CONTROL."""
    doc = Doc("AccessControlPolicy").owner(owner_id).open("AccessControlList").open("Grant")
    doc.open(f'Grantee xmlns:xsi="{XSI}" xsi:type="CanonicalUser"')
    doc.el("ID", owner_id).el("DisplayName", owner_id).close("Grantee")
    return doc.el("Permission", "FULL_CONTROL").close("Grant").close("AccessControlList").render()


def versioning_configuration(state: str) -> bytes:
    """`state` is Enabled, Suspended, or Unversioned (rendered as an empty configuration)."""
    doc = Doc("VersioningConfiguration")
    if state in ("Enabled", "Suspended"):
        doc.el("Status", state)
    return doc.render()


@dataclass(frozen=True, slots=True)
class DeletedEntry:
    key: str
    version_id: str | None = None
    delete_marker: bool = False
    delete_marker_version_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteErrorEntry:
    key: str
    code: str
    message: str
    version_id: str | None = None


def delete_result(deleted: Sequence[DeletedEntry], errors: Sequence[DeleteErrorEntry], quiet: bool) -> bytes:
    doc = Doc("DeleteResult")
    if not quiet:
        for d in deleted:
            doc.open("Deleted").el("Key", d.key).opt("VersionId", d.version_id)
            if d.delete_marker:
                doc.el("DeleteMarker", True).opt("DeleteMarkerVersionId", d.delete_marker_version_id)
            doc.close("Deleted")
    for e in errors:
        doc.open("Error").el("Key", e.key).opt("VersionId", e.version_id).el("Code", e.code)
        doc.el("Message", e.message).close("Error")
    return doc.render()


# --- parsing -----------------------------------------------------------------------------


def _refuse_dtd(*_: object) -> NoReturn:
    raise MalformedXML("XML document type declarations and entities are not allowed.")


def _local(name: str) -> str:
    return name.rpartition(" ")[2]  # expat gives "namespace-uri local-name"


def parse_xml(body: bytes) -> ET.Element:
    """Parse a request body, refusing DTDs and entities; tags and attributes lose their namespace.

    The refusal lives in expat's own declaration handlers, so it holds whatever encoding the bytes
    claim; on top of that only UTF-8 is accepted (S3 request bodies are UTF-8)."""
    if len(body) > MAX_XML_BODY:
        raise MalformedXML("The XML you provided was too large.")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body:
        raise MalformedXML("The XML you provided is not UTF-8.")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.XmlDeclHandler = _check_xml_decl
    parser.StartElementHandler = lambda name, attrs: builder.start(
        _local(name), {_local(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(_local(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        return builder.close()
    except (expat.ExpatError, ValueError, AssertionError):  # TreeBuilder.close asserts on an unfinished tree
        raise MalformedXML() from None


def _check_xml_decl(_version: str, encoding: str | None, _standalone: int) -> None:
    if encoding is not None and encoding.upper().replace("-", "") != "UTF8":
        raise MalformedXML("The XML you provided is not UTF-8.")


def _text(el: ET.Element, name: str) -> str | None:
    child = el.find(name)
    if child is None:
        return None
    return child.text or ""


def parse_create_bucket(body: bytes) -> str | None:
    """The LocationConstraint of a CreateBucketConfiguration (None for an empty body)."""
    if not body.strip():
        return None
    root = parse_xml(body)
    if root.tag != "CreateBucketConfiguration":
        raise MalformedXML()
    value = _text(root, "LocationConstraint")
    return value.strip() if value is not None else None


def parse_versioning(body: bytes) -> str:
    """The Status (Enabled or Suspended) of a VersioningConfiguration."""
    root = parse_xml(body)
    if root.tag != "VersioningConfiguration":
        raise MalformedXML()
    status = _text(root, "Status")
    if status not in ("Enabled", "Suspended"):
        raise MalformedXML()
    mfa = _text(root, "MfaDelete")
    if mfa not in (None, "Disabled"):
        raise InvalidArgument("MFA delete is not supported.", ArgumentName="MfaDelete")
    return status


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    quiet: bool
    objects: tuple[tuple[str, str | None], ...]  # (key, version id)


def parse_delete(body: bytes) -> DeleteRequest:
    root = parse_xml(body)
    if root.tag != "Delete":
        raise MalformedXML()
    quiet = (_text(root, "Quiet") or "false").strip().lower() == "true"
    objects = []
    for obj in root.findall("Object"):
        key = _text(obj, "Key")
        if key is None:
            raise MalformedXML()
        version = _text(obj, "VersionId")
        objects.append((key, version if version else None))
    if not objects or len(objects) > MAX_DELETE_KEYS:
        raise MalformedXML()
    return DeleteRequest(quiet, tuple(objects))


@dataclass(frozen=True, slots=True)
class CompletePart:
    part_number: int
    etag: str  # without quotes
    checksums: tuple[tuple[str, str], ...]  # (algorithm, base64 value), e.g. ("CRC32", "DUoRhQ==")


_CHECKSUM_ELEMENTS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def parse_complete_multipart(body: bytes) -> tuple[CompletePart, ...]:
    root = parse_xml(body)
    if root.tag != "CompleteMultipartUpload":
        raise MalformedXML()
    parts = []
    for part in root.findall("Part"):
        number, etag = _text(part, "PartNumber"), _text(part, "ETag")
        if number is None or etag is None:
            raise MalformedXML()
        try:
            n = int(number.strip())
        except ValueError:
            raise MalformedXML() from None
        checksums = tuple(
            (alg, value.strip()) for alg in _CHECKSUM_ELEMENTS if (value := _text(part, "Checksum" + alg))
        )
        parts.append(CompletePart(n, etag.strip().strip('"'), checksums))
    if not parts:
        raise MalformedXML()
    return tuple(parts)


# --- listing and multipart documents (values from cairn.metadata.models) ----------------


def list_buckets(
    buckets: Iterable[Bucket], owner_id: str, continuation_token: str | None = None, prefix: str | None = None
) -> bytes:
    doc = Doc("ListAllMyBucketsResult").owner(owner_id).open("Buckets")
    for b in buckets:
        doc.open("Bucket").el("Name", b.name).el("CreationDate", iso_time(b.created_ms))
        doc.opt("BucketRegion", b.region).close("Bucket")
    doc.close("Buckets").opt("ContinuationToken", continuation_token)
    if prefix is not None:
        doc.el("Prefix", prefix)
    return doc.render()


def _summary(doc: Doc, s: ObjectSummary, owner: bool, tag: str = "Contents", version: bool = False) -> None:
    doc.open(tag).el("Key", s.key, encode=True)
    if version:
        doc.el("VersionId", s.version_id).el("IsLatest", s.is_latest)
    doc.el("LastModified", iso_time(s.last_modified_ms))
    if not s.is_delete_marker:
        doc.el("ETag", quote_etag(s.etag))
        for alg in s.checksum_algorithms:
            doc.el("ChecksumAlgorithm", alg)
        doc.opt("ChecksumType", s.checksum_type).el("Size", s.size).el("StorageClass", s.storage_class)
    if owner:
        doc.owner(s.owner_id)
    doc.close(tag)


@dataclass(frozen=True, slots=True)
class ListParams:
    """The request's listing parameters, echoed back in the result."""

    prefix: str = ""
    delimiter: str = ""
    max_keys: int = 1000
    encoding_type: str = ""
    marker: str = ""  # V1 Marker, V2 StartAfter, versions/uploads KeyMarker
    token: str = ""  # V2 ContinuationToken, VersionIdMarker, UploadIdMarker
    fetch_owner: bool = False


def _head(root: str, bucket: str, p: ListParams) -> Doc:
    doc = Doc(root, url_encode=p.encoding_type == "url")
    doc.el("Name", bucket).el("Prefix", p.prefix, encode=True)
    return doc


def list_objects_v1(bucket: str, p: ListParams, page: ListObjectsV1Page) -> bytes:
    doc = _head("ListBucketResult", bucket, p).el("Marker", p.marker, encode=True)
    doc.opt("NextMarker", page.next_marker, encode=True).el("MaxKeys", p.max_keys)
    doc.opt("Delimiter", p.delimiter, encode=True).el("IsTruncated", page.is_truncated)
    doc.opt("EncodingType", p.encoding_type)
    for s in page.contents:
        _summary(doc, s, owner=True)
    return doc.common_prefixes(page.common_prefixes).render()


def list_objects_v2(bucket: str, p: ListParams, page: ListObjectsV2Page) -> bytes:
    doc = _head("ListBucketResult", bucket, p)
    doc.opt("ContinuationToken", p.token).opt("NextContinuationToken", page.next_continuation_token)
    doc.el("KeyCount", page.key_count).el("MaxKeys", p.max_keys).opt("Delimiter", p.delimiter, encode=True)
    doc.el("IsTruncated", page.is_truncated).opt("StartAfter", p.marker, encode=True)
    doc.opt("EncodingType", p.encoding_type)
    for s in page.contents:
        _summary(doc, s, owner=p.fetch_owner)
    return doc.common_prefixes(page.common_prefixes).render()


def list_versions(bucket: str, p: ListParams, page: ListVersionsPage) -> bytes:
    doc = _head("ListVersionsResult", bucket, p).el("KeyMarker", p.marker, encode=True)
    doc.el("VersionIdMarker", p.token).opt("NextKeyMarker", page.next_key_marker, encode=True)
    doc.opt("NextVersionIdMarker", page.next_version_id_marker).el("MaxKeys", p.max_keys)
    doc.opt("Delimiter", p.delimiter, encode=True).el("IsTruncated", page.is_truncated)
    doc.opt("EncodingType", p.encoding_type)
    for s in page.versions:
        _summary(doc, s, owner=True, tag="DeleteMarker" if s.is_delete_marker else "Version", version=True)
    return doc.common_prefixes(page.common_prefixes).render()


def list_uploads(bucket: str, p: ListParams, page: ListUploadsPage) -> bytes:
    doc = Doc("ListMultipartUploadsResult", url_encode=p.encoding_type == "url").el("Bucket", bucket)
    doc.el("KeyMarker", p.marker, encode=True).el("UploadIdMarker", p.token)
    doc.opt("NextKeyMarker", page.next_key_marker, encode=True).opt(
        "NextUploadIdMarker", page.next_upload_id_marker
    )
    doc.el("Prefix", p.prefix, encode=True).opt("Delimiter", p.delimiter, encode=True)
    doc.el("MaxUploads", p.max_keys).el("IsTruncated", page.is_truncated).opt("EncodingType", p.encoding_type)
    for u in page.uploads:
        doc.open("Upload").el("Key", u.key, encode=True).el("UploadId", u.upload_id)
        doc.owner(u.attrs.owner_id, "Initiator").owner(u.attrs.owner_id)
        doc.el("StorageClass", u.attrs.storage_class or "STANDARD").el("Initiated", iso_time(u.initiated_ms))
        doc.opt("ChecksumAlgorithm", u.checksum_algorithm).close("Upload")
    return doc.common_prefixes(page.common_prefixes).render()


def list_parts(
    bucket: str,
    key: str,
    page: ListPartsPage,
    max_parts: int,
    marker: int,
    checksum: Callable[[Checksum], tuple[str, str]],
) -> bytes:
    u = page.upload
    doc = Doc("ListPartsResult").el("Bucket", bucket).el("Key", key).el("UploadId", u.upload_id)
    doc.owner(u.attrs.owner_id, "Initiator").owner(u.attrs.owner_id)
    doc.el("StorageClass", u.attrs.storage_class or "STANDARD").el("PartNumberMarker", marker)
    next_marker = page.next_part_number_marker or (page.parts[-1].part_number if page.parts else marker)
    doc.el("NextPartNumberMarker", next_marker).el("MaxParts", max_parts).el("IsTruncated", page.is_truncated)
    doc.opt("ChecksumAlgorithm", u.checksum_algorithm)
    if u.checksum_algorithm:
        doc.el("ChecksumType", str(u.checksum_type))
    for part in page.parts:
        doc.open("Part").el("PartNumber", part.part_number).el(
            "LastModified", iso_time(part.last_modified_ms)
        )
        doc.el("ETag", quote_etag(part.etag)).el("Size", part.size)
        doc.checksums(checksum(c) for c in part.checksums).close("Part")
    return doc.render()


def initiate_multipart(bucket: str, key: str, upload_id: str) -> bytes:
    return (
        Doc("InitiateMultipartUploadResult")
        .el("Bucket", bucket)
        .el("Key", key)
        .el("UploadId", upload_id)
        .render()
    )


def complete_multipart(
    location: str,
    bucket: str,
    key: str,
    etag: str,
    checksums: Iterable[tuple[str, str]],
    checksum_type: str = "",
) -> bytes:
    doc = Doc("CompleteMultipartUploadResult").el("Location", location).el("Bucket", bucket).el("Key", key)
    doc.el("ETag", quote_etag(etag)).checksums(checksums).opt("ChecksumType", checksum_type)
    return doc.render()


def copy_result(
    root: str, etag: str, last_modified_ms: int, checksums: Iterable[tuple[str, str]] = ()
) -> bytes:
    """CopyObjectResult or CopyPartResult."""
    doc = Doc(root).el("ETag", quote_etag(etag)).el("LastModified", iso_time(last_modified_ms))
    return doc.checksums(checksums).render()
