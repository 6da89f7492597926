"""Tag sets from the `x-amz-tagging` header and the Tagging XML, held to S3's limits."""

from __future__ import annotations

import pytest

from cairn.api_service import tagging
from cairn.api_service.errors import S3Error


def xml(*pairs: tuple[str, str]) -> bytes:
    tags = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
    return (
        f'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>{tags}</TagSet></Tagging>'.encode()
    )


def test_header_is_a_url_encoded_query() -> None:
    assert tagging.from_header("a=1&b=two%20words&c=&d%2Fe=x%2By") == (
        ("a", "1"),
        ("b", "two words"),
        ("c", ""),
        ("d/e", "x+y"),
    )
    assert tagging.from_header(None) == () and tagging.from_header("") == ()


def test_xml_round_trip_keeps_order_and_text() -> None:
    pairs = (("zeta", "1"), ("äöü", "x y"), ("empty", ""))
    assert tagging.parse(tagging.render(pairs)) == pairs
    assert tagging.parse(xml()) == ()


@pytest.mark.parametrize(
    "body",
    [
        b"<Tagging/>",
        b"<Other><TagSet/></Other>",
        b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
    ],
)
def test_malformed_xml(body: bytes) -> None:
    with pytest.raises(S3Error) as exc:
        tagging.parse(body)
    assert exc.value.code == "MalformedXML"


@pytest.mark.parametrize(
    "pairs",
    [
        tuple((f"k{i}", "v") for i in range(11)),
        (("k" * 129, "v"),),
        (("k", "v" * 257),),
        (("", "v"),),
        (("a", "1"), ("a", "2")),
        (("bad*", "v"),),
        (("k", "bad#"),),
    ],
)
def test_limits_answer_invalid_tag(pairs: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(S3Error) as exc:
        tagging.validate(pairs)
    assert (exc.value.status, exc.value.code) == (400, "InvalidTag")
    with pytest.raises(S3Error) as exc:
        tagging.parse(xml(*pairs))
    assert exc.value.code == "InvalidTag"


def test_limits_at_the_edge() -> None:
    pairs = (
        *((f"k{i}", "v") for i in range(9)),
        ("k" * 128, "v" * 256),
    )
    assert tagging.validate(pairs) == pairs
    assert tagging.validate((("Ünïcode 1 _.:/=+-@", "Ünïcode 1 _.:/=+-@"),))


def test_a_header_that_is_no_query_is_invalid_argument() -> None:
    with pytest.raises(S3Error) as exc:
        tagging.from_header("novalue")
    assert (exc.value.status, exc.value.code) == (400, "InvalidArgument")
