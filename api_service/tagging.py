"""Object and bucket tag sets: the `x-amz-tagging` header, the Tagging XML, and S3's limits.

Limits (S3 User Guide, "Categorizing your storage using tags"; "Using cost allocation S3 bucket
tags" for buckets): at most 10 tags per object and 50 per bucket, keys
of 1 to 128 Unicode characters, values of up to 256, unique keys, characters from letters, digits,
white space and `_ . : / = + - @`. A tag set breaking one is refused with 400 InvalidTag (a header
that is not a query string with 400 InvalidArgument). Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl

from . import s3_xml
from .errors import InvalidArgument, InvalidTag, MalformedXML

MAX_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
_ALLOWED = re.compile(r"[\w\s.:/=+\-@]*")

Tags = tuple[tuple[str, str], ...]


def validate(tags: Sequence[tuple[str, str]], max_tags: int = MAX_TAGS, what: str = "Object") -> Tags:
    """The tag set in order, or InvalidTag naming the first broken limit."""
    if len(tags) > max_tags:
        raise InvalidTag(f"{what} tags cannot be greater than {max_tags}")
    seen: set[str] = set()
    for key, value in tags:
        if not key or not _ALLOWED.fullmatch(key):
            raise InvalidTag("The TagKey you have provided is invalid", TagKey=key)
        if len(key) > MAX_KEY_CHARS:
            raise InvalidTag(f"The TagKey you have provided is too long, max {MAX_KEY_CHARS}", TagKey=key)
        if not _ALLOWED.fullmatch(value):
            raise InvalidTag("The TagValue you have provided is invalid", TagKey=key)
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidTag(f"The TagValue you have provided is too long, max {MAX_VALUE_CHARS}", TagKey=key)
        if key in seen:
            raise InvalidTag("Cannot provide multiple Tags with the same key", TagKey=key)
        seen.add(key)
    return tuple(tags)


def from_header(value: str | None) -> Tags:
    """The tag set of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded); () when absent."""
    if not value:
        return ()
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
            ArgumentName="x-amz-tagging",
        ) from None
    return validate(pairs)


def parse(body: bytes, max_tags: int = MAX_TAGS, what: str = "Object") -> Tags:
    """The tag set of a Put{Object,Bucket}Tagging body: `<Tagging><TagSet><Tag><Key/><Value/></Tag>...`."""
    root = s3_xml.parse_xml(body)
    tag_set = root.find("TagSet")
    if root.tag != "Tagging" or tag_set is None:
        raise MalformedXML()
    pairs = []
    for tag in tag_set:
        key, value = tag.find("Key"), tag.find("Value")
        if tag.tag != "Tag" or key is None or value is None:
            raise MalformedXML()
        pairs.append((key.text or "", value.text or ""))
    return validate(pairs, max_tags, what)


def render(tags: Sequence[tuple[str, str]]) -> bytes:
    doc = s3_xml.Doc("Tagging").open("TagSet")
    for key, value in tags:
        doc.open("Tag").el("Key", key).el("Value", value).close("Tag")
    return doc.close("TagSet").render()
