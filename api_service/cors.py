"""Bucket CORS: the CORSConfiguration XML, its validation, and rule matching. Nothing here does I/O.

S3's rules (S3 User Guide, "Elements of a CORS configuration"; API PutBucketCors): 1 to 100
`CORSRule`s, each with at least one `AllowedMethod` (GET, PUT, POST, DELETE, HEAD, exactly) and
one `AllowedOrigin`, any `AllowedHeader`s and `ExposeHeader`s, an optional `MaxAgeSeconds` and
`ID` (255 characters at most). An origin or allowed header may hold one `*` wildcard; an exposed
header none. A request is matched against the rules in order and the first rule that allows it
answers: its origin matches one `AllowedOrigin` (case-sensitive), its method is an
`AllowedMethod`, and (preflight only) every header named in `Access-Control-Request-Headers`
matches an `AllowedHeader` (case-insensitive).

The response headers (`headers_for`): `Access-Control-Allow-Origin` is `*` when the rule's
matching origin is `*`, else the request's origin with `Access-Control-Allow-Credentials: true`;
`Access-Control-Allow-Methods` lists the rule's methods; `Access-Control-Expose-Headers` and
`Access-Control-Max-Age` when the rule has them; a preflight also gets
`Access-Control-Allow-Headers` (the requested headers). Every answer to a request carrying
`Origin` on a bucket with a CORS configuration varies on the three request headers (`VARY`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from xml.etree import ElementTree as ET

from . import s3_xml
from .errors import InvalidArgument, InvalidRequest, MalformedXML

MAX_RULES = 100
MAX_DOCUMENT_BYTES = 64 * 1024
MAX_ID_CHARS = 255
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_LIST_ELEMENTS = {
    "AllowedMethod": "methods",
    "AllowedOrigin": "origins",
    "AllowedHeader": "allowed_headers",
    "ExposeHeader": "expose_headers",
}


@dataclass(frozen=True, slots=True)
class CorsRule:
    methods: tuple[str, ...]
    origins: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    rule_id: str | None = None


@dataclass(frozen=True)
class CorsConfig:
    rules: tuple[CorsRule, ...]

    @cached_property
    def _origin_patterns(self) -> tuple[tuple[re.Pattern[str], ...], ...]:
        return tuple(tuple(_wildcard(o) for o in r.origins) for r in self.rules)

    @cached_property
    def _header_patterns(self) -> tuple[tuple[re.Pattern[str], ...], ...]:
        return tuple(tuple(_wildcard(h, re.IGNORECASE) for h in r.allowed_headers) for r in self.rules)

    def match(
        self, origin: str, method: str, request_headers: Sequence[str] | None = None
    ) -> tuple[CorsRule, str] | None:
        """The first rule allowing (origin, method[, headers]) and the origin entry that matched;
        `request_headers` None (an actual request) skips the header check."""
        for rule, origins, headers in zip(
            self.rules, self._origin_patterns, self._header_patterns, strict=True
        ):
            if method not in rule.methods:
                continue
            allowed = next(
                (o for o, p in zip(rule.origins, origins, strict=True) if p.fullmatch(origin)), None
            )
            if allowed is None:
                continue
            if request_headers is not None and not all(
                any(p.fullmatch(h) for p in headers) for h in request_headers
            ):
                continue
            return rule, allowed
        return None


def _wildcard(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), flags)


def parse(body: bytes) -> CorsConfig:
    """The configuration of a PutBucketCors body, or MalformedXML / InvalidRequest as S3 answers."""
    if len(body) > MAX_DOCUMENT_BYTES:
        raise MalformedXML("The XML you provided was too large.")
    root = s3_xml.parse_xml(body)
    if root.tag != "CORSConfiguration" or any(child.tag != "CORSRule" for child in root):
        raise MalformedXML()
    rules = tuple(_rule(child) for child in root)
    if not 1 <= len(rules) <= MAX_RULES:
        raise MalformedXML()
    return CorsConfig(rules)


def _rule(el: ET.Element) -> CorsRule:
    lists: dict[str, list[str]] = {name: [] for name in _LIST_ELEMENTS.values()}
    max_age: int | None = None
    rule_id: str | None = None
    for child in el:
        text = (child.text or "").strip()
        if child.tag in _LIST_ELEMENTS:
            lists[_LIST_ELEMENTS[child.tag]].append(text)
        elif child.tag == "MaxAgeSeconds" and max_age is None:
            if not re.fullmatch(r"-?[0-9]{1,10}", text):
                raise MalformedXML()
            max_age = int(text)
        elif child.tag == "ID" and rule_id is None:
            if len(text) > MAX_ID_CHARS:
                raise InvalidArgument(f"ID length should not exceed allowed limit of {MAX_ID_CHARS}")
            rule_id = text
        else:
            raise MalformedXML()
    if not lists["methods"] or not lists["origins"]:
        raise MalformedXML()
    for method in lists["methods"]:
        if method not in METHODS:
            raise InvalidRequest(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    for origin in lists["origins"]:
        if origin.count("*") > 1:
            raise InvalidRequest(f'AllowedOrigin "{origin}" can not have more than one wildcard.')
    for header in lists["allowed_headers"]:
        if header.count("*") > 1:
            raise InvalidRequest(f'AllowedHeader "{header}" can not have more than one wildcard.')
    for header in lists["expose_headers"]:
        if "*" in header:
            raise InvalidRequest(
                f'ExposeHeader "{header}" contains wildcard. We currently do not support wildcard for ExposeHeader.'
            )
    return CorsRule(
        tuple(lists["methods"]),
        tuple(lists["origins"]),
        tuple(lists["allowed_headers"]),
        tuple(lists["expose_headers"]),
        max_age,
        rule_id,
    )


def render(config: CorsConfig) -> bytes:
    doc = s3_xml.Doc("CORSConfiguration")
    for rule in config.rules:
        doc.open("CORSRule").opt("ID", rule.rule_id)
        for name, attr in _LIST_ELEMENTS.items():
            for value in getattr(rule, attr):
                doc.el(name, value)
        doc.opt("MaxAgeSeconds", rule.max_age).close("CORSRule")
    return doc.render()


def request_headers(value: str | None) -> list[str]:
    """The header names of an `Access-Control-Request-Headers` value."""
    return [h.strip() for h in (value or "").split(",") if h.strip()]


def headers_for(
    rule: CorsRule, matched_origin: str, origin: str, requested: Sequence[str] | None = None
) -> dict[str, str]:
    """The CORS response headers of a request (a preflight when `requested` is given) that `rule`
    allowed through its origin entry `matched_origin`."""
    out = {"access-control-allow-origin": "*" if matched_origin == "*" else origin}
    out["access-control-allow-methods"] = ", ".join(rule.methods)
    if requested:
        out["access-control-allow-headers"] = ", ".join(requested)
    if rule.expose_headers:
        out["access-control-expose-headers"] = ", ".join(rule.expose_headers)
    if rule.max_age is not None:
        out["access-control-max-age"] = str(rule.max_age)
    if matched_origin != "*":
        out["access-control-allow-credentials"] = "true"
    out["vary"] = VARY
    return out
