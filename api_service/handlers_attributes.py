"""GetObjectAttributes (`GET /bucket/key?attributes`): what HEAD tells, as XML, plus the parts.

`x-amz-object-attributes` names what to return, comma-separated: `ETag` (unquoted, as S3 gives
it here), `Checksum` (the object's checksum and its type; a COMPOSITE one without the `-N` part
count), `ObjectParts` (multipart objects only: `PartsCount`, and each part's number and size, paged by
`x-amz-max-parts` and `x-amz-part-number-marker`, listed only for objects with a checksum as S3
lists them; Cairn does not keep per-part checksums after completion, so parts carry none),
`StorageClass`, `ObjectSize`. A missing, empty or unknown name is 400 `InvalidArgument`. The
answer carries `Last-Modified` and the version id where GET would; a delete marker is 404 with
`x-amz-delete-marker`, an SSE-C object needs its key, as for GET.
"""

from __future__ import annotations

from starlette.responses import Response

from cairn.metadata.models import ObjectVersion, VersioningState

from . import s3_xml, sse
from .context import S3Request
from .errors import InvalidArgument
from .object_headers import checksum_elements, http_date, version_headers
from .router import Op

XML = "application/xml"
ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def requested_attributes(header: str) -> set[str]:
    """The attribute names of `x-amz-object-attributes` (S3's spelling, matched exactly)."""
    names = {name.strip() for name in header.split(",") if name.strip()}
    if not names:
        raise InvalidArgument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
            ArgumentName="x-amz-object-attributes",
        )
    unknown = names - set(ATTRIBUTES)
    if unknown:
        raise InvalidArgument("Invalid attribute name specified.", ArgumentName="x-amz-object-attributes")
    return names


def _header_int(req: S3Request, name: str, default: int) -> int:
    raw = req.headers.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise InvalidArgument(f"Invalid value for {name}", ArgumentName=name, ArgumentValue=raw)
    return int(raw)


def render(v: ObjectVersion, names: set[str], max_parts: int, marker: int) -> bytes:
    doc = s3_xml.Doc("GetObjectAttributesResponse")
    if "ETag" in names:
        doc.el("ETag", v.etag)
    if "Checksum" in names and v.checksums:
        doc.open("Checksum").checksums(checksum_elements(v.checksums))
        doc.el("ChecksumType", str(v.checksums[0].type)).close("Checksum")
    if "ObjectParts" in names and v.parts_count:
        listed = list(enumerate(v.part_sizes, start=1)) if v.checksums else []
        after = [(n, size) for n, size in listed if n > marker]
        page = after[:max_parts]
        doc.open("ObjectParts").el("PartsCount", v.parts_count).el("PartNumberMarker", marker)
        doc.el("NextPartNumberMarker", page[-1][0] if page else marker).el("MaxParts", max_parts)
        doc.el("IsTruncated", len(after) > len(page))
        for number, size in page:
            doc.open("Part").el("PartNumber", number).el("Size", size).close("Part")
        doc.close("ObjectParts")
    if "StorageClass" in names:
        doc.el("StorageClass", v.storage_class or "STANDARD")
    if "ObjectSize" in names:
        doc.el("ObjectSize", v.size)
    return doc.render()


async def get_object_attributes(req: S3Request) -> Response:
    bucket = await req.bucket()
    names = requested_attributes(req.headers.get("x-amz-object-attributes", ""))
    max_parts = min(_header_int(req, "x-amz-max-parts", MAX_PARTS), MAX_PARTS)
    marker = _header_int(req, "x-amz-part-number-marker", 0)
    v = await req.metadata.get_object(req.bucket_name, req.key, req.query.get("versionId") or None)
    sse.key_for_read(req, v)
    headers = {"last-modified": http_date(v.last_modified_ms)}
    headers.update(version_headers(v, bucket.versioning != VersioningState.UNVERSIONED))
    return Response(render(v, names, max_parts, marker), headers=headers, media_type=XML)


ATTRIBUTES_HANDLERS = {Op.GET_OBJECT_ATTRIBUTES: get_object_attributes}
