"""Bucket lifecycle rules: the LifecycleConfiguration XML, its validation, rule filters and the
`x-amz-expiration` header. Nothing here does I/O; the background service (gc/lifecycle.py) runs
the rules with the same model.

A configuration holds 1 to 1000 `Rule`s. Each has an `ID` (255 characters at most, unique; one is
made up when absent), a `Status` (Enabled or Disabled), either a `Filter` (empty, or one of
`Prefix`, `Tag`, `ObjectSizeGreaterThan`, `ObjectSizeLessThan`, or an `And` of several) or the
older rule-level `Prefix`, and at least one action: `Expiration` (exactly one of `Days` > 0, a
`Date` at midnight UTC, or `ExpiredObjectDeleteMarker`), `NoncurrentVersionExpiration`
(`NoncurrentDays` > 0, optional `NewerNoncurrentVersions` 1..100) or
`AbortIncompleteMultipartUpload` (`DaysAfterInitiation` > 0). Errors as S3 answers them:
MalformedXML for a document of the wrong shape, InvalidArgument for a bad value, InvalidRequest for
a combination S3 refuses (tags with ExpiredObjectDeleteMarker or with
AbortIncompleteMultipartUpload, no action). Transitions need storage classes Cairn does not have:
501 NotImplemented.

Days count from an object's creation (an upload's initiation; a noncurrent version from the time
it became noncurrent) and end at the next midnight UTC, as S3 counts them (`due_ms`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from xml.etree import ElementTree as ET

from . import errors, s3_xml
from .errors import InvalidArgument, InvalidRequest, MalformedXML

MAX_RULES = 1000
MAX_ID_CHARS = 255
MAX_NEWER_NONCURRENT = 100
DAY_MS = 86_400_000
_INT = re.compile(r"[0-9]{1,18}")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T00:00:00(?:\.0+)?(?:Z|[+-]00:00)")

Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Filter:
    """What a rule applies to; `form` keeps how it was written (for rendering it back):
    "legacy" (rule-level Prefix), "empty", "prefix", "tag", "gt", "lt" or "and"."""

    form: str = "empty"
    prefix: str = ""
    tags: Tags = ()
    size_gt: int | None = None
    size_lt: int | None = None

    def matches(self, key: str, size: int | None = None, tags: Tags | None = None) -> bool:
        """Whether an object (key, size, tags) falls under the filter; a delete marker (size and
        tags None) only under filters of key prefix alone."""
        if not key.startswith(self.prefix):
            return False
        if self.size_gt is not None and (size is None or size <= self.size_gt):
            return False
        if self.size_lt is not None and (size is None or size >= self.size_lt):
            return False
        return not self.tags or (tags is not None and set(self.tags) <= set(tags))


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    enabled: bool
    filter: Filter = field(default_factory=Filter)
    expiration_days: int | None = None
    expiration_date_ms: int | None = None
    expired_object_delete_marker: bool | None = None
    noncurrent_days: int | None = None
    newer_noncurrent_versions: int | None = None
    abort_days: int | None = None


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    rules: tuple[Rule, ...]

    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)


def due_ms(start_ms: int, days: int, day_ms: int = DAY_MS) -> int:
    """`days` after `start_ms`, rounded up to the next day boundary (midnight UTC for real days)."""
    end = start_ms + days * day_ms
    return -(-end // day_ms) * day_ms


# --- parsing -----------------------------------------------------------------------------
def parse(body: bytes) -> LifecycleConfig:
    root = s3_xml.parse_xml(body)
    if root.tag != "LifecycleConfiguration" or any(child.tag != "Rule" for child in root):
        raise MalformedXML()
    rules = tuple(_rule(child) for child in root)
    if not 1 <= len(rules) <= MAX_RULES:
        raise MalformedXML()
    ids = [r.rule_id for r in rules]
    if len(set(ids)) != len(ids):
        raise InvalidArgument("Rule ID must be unique. Found same ID for more than one rule")
    return LifecycleConfig(rules)


def _children(
    el: ET.Element, allowed: Sequence[str], repeated: Sequence[str] = ()
) -> dict[str, list[ET.Element]]:
    out: dict[str, list[ET.Element]] = {}
    for child in el:
        if child.tag not in allowed:
            raise MalformedXML()
        out.setdefault(child.tag, []).append(child)
        if len(out[child.tag]) > 1 and child.tag not in repeated:
            raise MalformedXML()
    return out


def _text(el: ET.Element) -> str:
    return (el.text or "").strip()


def _positive(el: ET.Element, message: str, high: int | None = None) -> int:
    text = _text(el)
    if not _INT.fullmatch(text) or int(text) < 1 or (high is not None and int(text) > high):
        raise InvalidArgument(message)
    return int(text)


def _size(el: ET.Element) -> int:
    text = _text(el)
    if not _INT.fullmatch(text):
        raise InvalidArgument("ObjectSize must be a non-negative integer")
    return int(text)


def _tag(el: ET.Element) -> tuple[str, str]:
    parts = _children(el, ("Key", "Value"))
    if "Key" not in parts:
        raise MalformedXML()
    key = parts["Key"][0].text or ""
    value = parts["Value"][0].text or "" if "Value" in parts else ""
    if not key or len(key) > 128 or len(value) > 256:
        raise InvalidArgument("The TagKey or TagValue you have provided is invalid")
    return key, value


def _filter(el: ET.Element) -> Filter:
    parts = _children(el, ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And"))
    if len(parts) > 1:
        raise MalformedXML()
    if not parts:
        return Filter("empty")
    (name, (child,)), *_ = parts.items()
    if name == "Prefix":
        return Filter("prefix", prefix=child.text or "")
    if name == "Tag":
        return Filter("tag", tags=(_tag(child),))
    if name == "ObjectSizeGreaterThan":
        return Filter("gt", size_gt=_size(child))
    if name == "ObjectSizeLessThan":
        return Filter("lt", size_lt=_size(child))
    inner = _children(
        child, ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"), repeated=("Tag",)
    )
    tags = tuple(_tag(t) for t in inner.get("Tag", ()))
    if len({k for k, _ in tags}) != len(tags):
        raise InvalidRequest("Duplicate Tag Keys are not allowed.")
    result = Filter(
        "and",
        prefix=inner["Prefix"][0].text or "" if "Prefix" in inner else "",
        tags=tags,
        size_gt=_size(inner["ObjectSizeGreaterThan"][0]) if "ObjectSizeGreaterThan" in inner else None,
        size_lt=_size(inner["ObjectSizeLessThan"][0]) if "ObjectSizeLessThan" in inner else None,
    )
    if result.size_gt is not None and result.size_lt is not None and result.size_gt >= result.size_lt:
        raise InvalidArgument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan")
    return result


def _date_ms(el: ET.Element) -> int:
    text = _text(el)
    found = _DATE.fullmatch(text)
    if found is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})?", text):
            raise InvalidArgument("'Date' must be at midnight GMT")
        raise MalformedXML()
    try:
        day = datetime(int(found[1]), int(found[2]), int(found[3]), tzinfo=UTC)
    except ValueError:
        raise MalformedXML() from None
    return int(day.timestamp() * 1000)


def _rule(el: ET.Element) -> Rule:
    parts = _children(
        el,
        (
            "ID",
            "Status",
            "Filter",
            "Prefix",
            "Expiration",
            "NoncurrentVersionExpiration",
            "AbortIncompleteMultipartUpload",
            "Transition",
            "NoncurrentVersionTransition",
        ),
        repeated=("Transition", "NoncurrentVersionTransition"),
    )
    if "Transition" in parts or "NoncurrentVersionTransition" in parts:
        raise errors.NotImplemented("Cairn has one storage class: lifecycle transitions are not implemented.")
    rule_id = _text(parts["ID"][0]) if "ID" in parts else ""
    if len(rule_id) > MAX_ID_CHARS:
        raise InvalidArgument(f"ID length should not exceed allowed limit of {MAX_ID_CHARS}")
    status = _text(parts["Status"][0]) if "Status" in parts else ""
    if status not in ("Enabled", "Disabled"):
        raise MalformedXML()
    if ("Filter" in parts) == ("Prefix" in parts):
        raise MalformedXML()
    flt = (
        _filter(parts["Filter"][0])
        if "Filter" in parts
        else Filter("legacy", prefix=parts["Prefix"][0].text or "")
    )
    rule = Rule(rule_id or secrets.token_urlsafe(36)[:48], status == "Enabled", flt)
    fields: dict[str, object] = {}
    if "Expiration" in parts:
        exp = _children(parts["Expiration"][0], ("Days", "Date", "ExpiredObjectDeleteMarker"))
        if len(exp) != 1:
            raise MalformedXML()
        if "Days" in exp:
            fields["expiration_days"] = _positive(
                exp["Days"][0], "'Days' for Expiration action must be a positive integer"
            )
        elif "Date" in exp:
            fields["expiration_date_ms"] = _date_ms(exp["Date"][0])
        else:
            marker = _text(exp["ExpiredObjectDeleteMarker"][0])
            if marker not in ("true", "false"):
                raise MalformedXML()
            if flt.tags:
                raise InvalidRequest("ExpiredObjectDeleteMarker cannot be specified with object tags")
            fields["expired_object_delete_marker"] = marker == "true"
    if "NoncurrentVersionExpiration" in parts:
        nve = _children(
            parts["NoncurrentVersionExpiration"][0], ("NoncurrentDays", "NewerNoncurrentVersions")
        )
        if "NoncurrentDays" not in nve:
            raise MalformedXML()
        fields["noncurrent_days"] = _positive(
            nve["NoncurrentDays"][0],
            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
        )
        if "NewerNoncurrentVersions" in nve:
            fields["newer_noncurrent_versions"] = _positive(
                nve["NewerNoncurrentVersions"][0],
                f"NewerNoncurrentVersions must be between 1 and {MAX_NEWER_NONCURRENT}",
                MAX_NEWER_NONCURRENT,
            )
    if "AbortIncompleteMultipartUpload" in parts:
        abort = _children(parts["AbortIncompleteMultipartUpload"][0], ("DaysAfterInitiation",))
        if "DaysAfterInitiation" not in abort:
            raise MalformedXML()
        if flt.tags:
            raise InvalidRequest("AbortIncompleteMultipartUpload cannot be specified with Tags.")
        fields["abort_days"] = _positive(
            abort["DaysAfterInitiation"][0], "'DaysAfterInitiation' must be a positive integer"
        )
    if not fields:
        raise InvalidRequest("At least one action needs to be specified in a rule")
    return Rule(rule.rule_id, rule.enabled, flt, **fields)  # type: ignore[arg-type]


# --- rendering ---------------------------------------------------------------------------
def _render_tag(doc: s3_xml.Doc, key: str, value: str) -> None:
    doc.open("Tag").el("Key", key).el("Value", value).close("Tag")


def _render_filter(doc: s3_xml.Doc, f: Filter) -> None:
    if f.form == "legacy":
        doc.el("Prefix", f.prefix)
        return
    doc.open("Filter")
    if f.form == "and":
        doc.open("And")
        if f.prefix:
            doc.el("Prefix", f.prefix)
    for key, value in f.tags:
        _render_tag(doc, key, value)
    if f.form == "prefix":
        doc.el("Prefix", f.prefix)
    doc.opt("ObjectSizeGreaterThan", f.size_gt).opt("ObjectSizeLessThan", f.size_lt)
    if f.form == "and":
        doc.close("And")
    doc.close("Filter")


def render(config: LifecycleConfig) -> bytes:
    doc = s3_xml.Doc("LifecycleConfiguration")
    for r in config.rules:
        doc.open("Rule").el("ID", r.rule_id)
        _render_filter(doc, r.filter)
        doc.el("Status", "Enabled" if r.enabled else "Disabled")
        if (
            r.expiration_days is not None
            or r.expiration_date_ms is not None
            or r.expired_object_delete_marker is not None
        ):
            doc.open("Expiration").opt("Days", r.expiration_days)
            if r.expiration_date_ms is not None:
                doc.el("Date", s3_xml.iso_time(r.expiration_date_ms))
            doc.opt("ExpiredObjectDeleteMarker", r.expired_object_delete_marker).close("Expiration")
        if r.noncurrent_days is not None:
            doc.open("NoncurrentVersionExpiration").el("NoncurrentDays", r.noncurrent_days)
            doc.opt("NewerNoncurrentVersions", r.newer_noncurrent_versions).close(
                "NoncurrentVersionExpiration"
            )
        if r.abort_days is not None:
            doc.open("AbortIncompleteMultipartUpload").el("DaysAfterInitiation", r.abort_days)
            doc.close("AbortIncompleteMultipartUpload")
        doc.close("Rule")
    return doc.render()


# --- x-amz-expiration ----------------------------------------------------------------------
def expiration(
    config: LifecycleConfig, key: str, size: int, tags: Tags, last_modified_ms: int
) -> dict[str, str]:
    """The `x-amz-expiration` header of a current object version: the earliest expiry among the
    enabled rules that expire it (Days or Date), with that rule's id; {} when none does."""
    best: tuple[int, str] | None = None
    for rule in config.enabled():
        if not rule.filter.matches(key, size, tags):
            continue
        if rule.expiration_days is not None:
            when = due_ms(last_modified_ms, rule.expiration_days)
        elif rule.expiration_date_ms is not None:
            when = rule.expiration_date_ms
        else:
            continue
        if best is None or when < best[0]:
            best = (when, rule.rule_id)
    if best is None:
        return {}
    date = formatdate(best[0] / 1000, usegmt=True)
    return {"x-amz-expiration": f'expiry-date="{date}", rule-id="{best[1]}"'}


def abort_date(config: LifecycleConfig, key: str, initiated_ms: int) -> dict[str, str]:
    """`x-amz-abort-date` and `x-amz-abort-rule-id` of a new multipart upload: the earliest
    AbortIncompleteMultipartUpload among the enabled rules whose prefix covers the key."""
    due = [
        (due_ms(initiated_ms, r.abort_days), r.rule_id)
        for r in config.enabled()
        if r.abort_days is not None and key.startswith(r.filter.prefix)
    ]
    if not due:
        return {}
    when, rule_id = min(due)
    return {"x-amz-abort-date": formatdate(when / 1000, usegmt=True), "x-amz-abort-rule-id": rule_id}
