"""aws-chunked framing: every TCP split point, strictness about malformed framing."""

from __future__ import annotations

import pytest

from cairn.api_service import errors
from cairn.api_service.aws_chunked import AwsChunkedDecoder

WIRE = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"


def decode(wire: bytes, cuts: list[int]) -> tuple[bytes, dict[str, str]]:
    decoder = AwsChunkedDecoder()
    out = []
    last = 0
    for cut in [*cuts, len(wire)]:
        out += decoder.feed(wire[last:cut])
        last = cut
    decoder.close()
    return b"".join(out), decoder.trailers


def test_every_single_split_point() -> None:
    for cut in range(len(WIRE) + 1):
        assert decode(WIRE, [cut]) == (b"hello world", {"x-amz-checksum-crc32": "DUoRhQ=="})


def test_every_pair_of_split_points() -> None:
    for a in range(len(WIRE) + 1):
        for b in range(a, len(WIRE) + 1, 3):
            assert decode(WIRE, [a, b])[0] == b"hello world"


def test_byte_by_byte() -> None:
    assert decode(WIRE, list(range(1, len(WIRE))))[0] == b"hello world"


def test_no_trailers_and_empty_body() -> None:
    assert decode(b"0\r\n\r\n", []) == (b"", {})
    assert decode(b"3\r\nabc\r\n0\r\n\r\n", [])[0] == b"abc"


def test_missing_final_crlf_after_unsigned_trailers_is_tolerated() -> None:
    assert decode(WIRE[:-2], [])[0] == b"hello world"


@pytest.mark.parametrize("cut", [1, 4, 9, 12, 20])
def test_truncated_body_is_incomplete(cut: int) -> None:
    decoder = AwsChunkedDecoder()
    decoder.feed(WIRE[:cut])
    with pytest.raises(errors.IncompleteBody):
        decoder.close()


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
        b"5\r\nhelloXX0\r\n\r\n",  # data not followed by CRLF
        b"5;foo=bar\r\nhello\r\n0\r\n\r\n",  # unknown extension
        b"0\r\nno-colon\r\n\r\n",  # malformed trailer
        b"0\r\n\r\nextra",  # bytes after the end
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"A" * 5000,  # header line never ends
    ],
)
def test_malformed_framing_is_rejected(wire: bytes) -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(errors.InvalidRequest):
        decoder.feed(wire)
        decoder.close()


def test_oversized_chunk_rejected() -> None:
    decoder = AwsChunkedDecoder(max_chunk_size=4)
    with pytest.raises(errors.InvalidRequest):
        decoder.feed(b"5\r\nhello\r\n")


def test_signer_requires_chunk_signatures() -> None:
    class Signer:
        def chunk_signature(self, previous: str, data_sha256_hex: str) -> str:
            return "s" + previous

        def trailer_signature(self, previous: str, canonical_trailers: bytes) -> str:
            return "t"

    with pytest.raises(errors.SignatureDoesNotMatch):
        AwsChunkedDecoder(signer=Signer(), seed_signature="x").feed(b"5\r\nhello\r\n")
    decoder = AwsChunkedDecoder(signer=Signer(), seed_signature="x")
    assert decoder.feed(b"5;chunk-signature=sx\r\nhello\r\n0;chunk-signature=ssx\r\n\r\n") == [b"hello"]
    decoder.close()
    decoder = AwsChunkedDecoder(signer=Signer(), seed_signature="x")
    with pytest.raises(errors.SignatureDoesNotMatch):  # a chunk signature not chained from the previous
        decoder.feed(b"5;chunk-signature=sx\r\nhello\r\n0;chunk-signature=sx\r\n\r\n")
