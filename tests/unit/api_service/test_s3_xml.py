"""S3 XML: AWS documentation request bodies parse; our responses read back through botocore's parser."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from cairn.api_service import errors, s3_xml
from cairn.metadata.models import (
    Bucket,
    ListObjectsV2Page,
    ListVersionsPage,
    ObjectSummary,
    VersioningState,
)

MODEL = botocore.session.get_session().get_service_model("s3")


def boto_parse(operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    shape = MODEL.operation_model(operation).output_shape
    parsed = create_parser("rest-xml").parse({"body": body, "headers": {}, "status_code": status}, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_parse_aws_complete_multipart_example() -> None:
    body = b"""<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Part><PartNumber>1</PartNumber><ETag>"a54357aff0632cce46d942af68356b38"</ETag>
        <ChecksumCRC32>DUoRhQ==</ChecksumCRC32></Part>
      <Part><PartNumber>2</PartNumber><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag></Part>
    </CompleteMultipartUpload>"""
    parts = s3_xml.parse_complete_multipart(body)
    assert parts[0] == s3_xml.CompletePart(1, "a54357aff0632cce46d942af68356b38", (("CRC32", "DUoRhQ=="),))
    assert parts[1].part_number == 2 and parts[1].checksums == ()


def test_parse_aws_delete_example() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
    <Delete><Quiet>true</Quiet><Object><Key>sample1.txt</Key></Object>
      <Object><Key>sample2.txt</Key><VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId></Object></Delete>"""
    request = s3_xml.parse_delete(body)
    assert request.quiet
    assert request.objects == (("sample1.txt", None), ("sample2.txt", "OYcLXagmS.WaD..oyH4KRguB95_YhLs7"))


def test_parse_bucket_configurations() -> None:
    assert s3_xml.parse_create_bucket(b"") is None
    body = b"""<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"""
    assert s3_xml.parse_create_bucket(body) == "eu-west-1"
    body = (
        b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status>'
        b"</VersioningConfiguration>"
    )
    assert s3_xml.parse_versioning(body) == "Enabled"
    with pytest.raises(errors.MalformedXML):
        s3_xml.parse_versioning(b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>")


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "boom">]><Delete><Object><Key>&x;</Key></Object></Delete>',
        b'<!DOCTYPE d SYSTEM "file:///etc/passwd"><Delete/>',
        b"<Delete><Object><Key>a</Key></Object>",
        b"not xml",
        b"<Delete></Delete>",
        b"<Other><Object><Key>a</Key></Object></Other>",
        b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
    ],
)
def test_hostile_or_invalid_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(errors.MalformedXML):
        s3_xml.parse_delete(body)


_UTF16_ENTITY = (
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "secretkey">]>'
    "<Delete><Object><Key>&a;</Key></Object></Delete>"
)


@pytest.mark.parametrize(
    "body",
    [
        _UTF16_ENTITY.encode("utf-16"),  # with a byte order mark
        _UTF16_ENTITY.encode("utf-16-le"),
        _UTF16_ENTITY.encode("utf-16-be"),
        _UTF16_ENTITY.replace("UTF-16", "UTF-8").encode(),
        _UTF16_ENTITY.replace("UTF-16", "ISO-8859-1").encode("latin-1"),
        b'<?xml version="1.0" encoding="ISO-8859-1"?><Delete><Object><Key>a</Key></Object></Delete>',
    ],
)
def test_dtd_guard_holds_in_any_encoding_and_only_utf8_is_read(body: bytes) -> None:
    with pytest.raises(errors.MalformedXML):
        s3_xml.parse_delete(body)


def test_namespaced_and_prefixed_utf8_documents_parse() -> None:
    body = (
        '<d:Delete xmlns:d="http://s3.amazonaws.com/doc/2006-03-01/"><d:Object><d:Key> é&amp;</d:Key>'
        "</d:Object></d:Delete>"
    )
    assert s3_xml.parse_delete(body.encode()).objects == ((" é&", None),)


def test_list_buckets_reads_back() -> None:
    body = s3_xml.list_buckets(
        [Bucket("b1", "id", "alice", VersioningState.UNVERSIONED, 1_700_000_000_123)], "alice"
    )
    parsed = boto_parse("ListBuckets", body)
    assert parsed["Buckets"][0]["Name"] == "b1"
    assert parsed["Buckets"][0]["CreationDate"].isoformat() == "2023-11-14T22:13:20.123000+00:00"
    assert parsed["Owner"]["ID"] == "alice"


def test_list_objects_v2_url_encoding_reads_back() -> None:
    key = "a b+c/ü&<x>"
    page = ListObjectsV2Page(
        (ObjectSummary(key, "null", True, False, 0, etag="abc", size=3, checksum_algorithms=("CRC32",)),),
        ("p +/",),
        True,
        "tok",
        2,
    )
    params = s3_xml.ListParams(prefix="a b", delimiter="/", max_keys=2, encoding_type="url")
    body = s3_xml.list_objects_v2("bkt", params, page)
    assert b"a%20b%2Bc/%C3%BC%26%3Cx%3E" in body
    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    parsed = boto_parse("ListObjectsV2", body)
    # botocore's after-call handler decodes url-encoded listings; apply it as a client would.
    client.meta.events.emit(
        "after-call.s3.ListObjectsV2",
        parsed=parsed,
        context={"encoding_type_auto_set": True},
        model=MODEL.operation_model("ListObjectsV2"),
        http_response=None,
    )
    assert parsed["Contents"][0]["Key"] == key
    assert parsed["Contents"][0]["ETag"] == '"abc"'
    assert parsed["CommonPrefixes"][0]["Prefix"] == "p +/"
    assert parsed["NextContinuationToken"] == "tok" and parsed["IsTruncated"] is True


def test_list_versions_reads_back() -> None:
    page = ListVersionsPage(
        (
            ObjectSummary("k", "v2", True, True, 0, owner_id="o"),
            ObjectSummary("k", "v1", False, False, 0, "e", 5),
        ),
        (),
        False,
        None,
        None,
    )
    parsed = boto_parse("ListObjectVersions", s3_xml.list_versions("b", s3_xml.ListParams(), page))
    assert parsed["DeleteMarkers"][0]["VersionId"] == "v2" and parsed["DeleteMarkers"][0]["IsLatest"] is True
    assert parsed["Versions"][0]["Size"] == 5 and parsed["Versions"][0]["IsLatest"] is False


def test_small_documents_read_back() -> None:
    assert boto_parse("GetBucketVersioning", s3_xml.versioning_configuration("Enabled")) == {
        "Status": "Enabled"
    }
    assert boto_parse("GetBucketVersioning", s3_xml.versioning_configuration("Unversioned")) == {}
    assert boto_parse("CreateMultipartUpload", s3_xml.initiate_multipart("b", "k", "u1"))["UploadId"] == "u1"
    done = boto_parse(
        "CompleteMultipartUpload",
        s3_xml.complete_multipart("/b/k", "b", "k", "abc-2", [("ChecksumCRC32", "AAAAAA==-2")]),
    )
    assert done["ETag"] == '"abc-2"' and done["ChecksumCRC32"] == "AAAAAA==-2"
    copy = boto_parse("CopyObject", s3_xml.copy_result("CopyObjectResult", "e", 0))
    assert copy["CopyObjectResult"]["ETag"] == '"e"'
    deleted = s3_xml.delete_result(
        [s3_xml.DeletedEntry("a", None, True, "m1")],
        [s3_xml.DeleteErrorEntry("b", "AccessDenied", "no")],
        False,
    )
    parsed = boto_parse("DeleteObjects", deleted)
    assert parsed["Deleted"] == [{"Key": "a", "DeleteMarker": True, "DeleteMarkerVersionId": "m1"}]
    assert parsed["Errors"] == [{"Key": "b", "Code": "AccessDenied", "Message": "no"}]
    assert s3_xml.location_constraint("us-east-1").endswith(b"></LocationConstraint>")


def test_error_document() -> None:
    body = errors.render_error(errors.NoSuchKey(Key="a&b"), "/b/a&b", "req1")
    assert b"<Code>NoSuchKey</Code>" in body and b"<Key>a&amp;b</Key>" in body and b"<RequestId>req1" in body
