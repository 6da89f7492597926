"""The policy document of a browser form upload: its signature, its expiration and its conditions.

A form carries a base64 JSON policy (`{"expiration": ..., "conditions": [...]}`) and a signature
of that base64 text: SigV4 (`X-Amz-Signature`: hex HMAC-SHA256 with the signing key of the
`X-Amz-Credential` scope) or V2 (`Signature`: base64 HMAC-SHA1 with the secret). The conditions
are S3's: an exact match (`{"field": "value"}` or `["eq", "$field", "value"]`), a prefix
(`["starts-with", "$field", "prefix"]`, "" allowing anything) and `["content-length-range", min,
max]` on the file's size. Every form field must be named by a condition, except the signature
fields, `policy`, `file` and `x-ignore-*` ones. Failures are answered as S3 answers them:
403 AccessDenied "Invalid according to Policy: ..." and 400 InvalidPolicyDocument for a policy
that is not one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import AccessDenied, InvalidPolicyDocument

#: Form fields no condition needs to name (lower case).
UNCHECKED_FIELDS = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"})


@dataclass(frozen=True, slots=True)
class Condition:
    op: str  # "eq", "starts-with" or "content-length-range"
    field: str  # lower-case field name without "$" ("" for content-length-range)
    value: str = ""
    low: int = 0
    high: int = 0
    label: str = ""  # the field name as the policy spells it

    def text(self) -> str:
        """The condition as S3 quotes it in an error message."""
        if self.op == "content-length-range":
            return f'["content-length-range", {self.low}, {self.high}]'
        return json.dumps([self.op, f"${self.label or self.field}", self.value])

    def holds(self, value: str) -> bool:
        return value == self.value if self.op == "eq" else value.startswith(self.value)


@dataclass(frozen=True, slots=True)
class FormPolicy:
    expiration: datetime
    conditions: tuple[Condition, ...]

    @property
    def length_range(self) -> tuple[int, int] | None:
        """The content-length-range (inclusive), if the policy has one (the last one wins)."""
        ranges = [(c.low, c.high) for c in self.conditions if c.op == "content-length-range"]
        return ranges[-1] if ranges else None


def _invalid(detail: str) -> InvalidPolicyDocument:
    return InvalidPolicyDocument(f"Invalid Policy: {detail}")


def parse(policy_b64: str) -> FormPolicy:
    """The policy of a form's `Policy` field; InvalidPolicyDocument if it is not one."""
    try:
        document = json.loads(base64.b64decode(policy_b64.encode(), validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    if "conditions" not in document:
        raise _invalid("Policy missing conditions.")
    raw_conditions = document["conditions"]
    if not isinstance(raw_conditions, list):
        raise _invalid("Policy conditions must be a list.")
    return FormPolicy(_expiration(document["expiration"]), tuple(_conditions(raw_conditions)))


def _expiration(value: object) -> datetime:
    text = value if isinstance(value, str) else ""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: '{value}'") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _conditions(raw: list[object]) -> list[Condition]:
    out: list[Condition] = []
    for item in raw:
        if isinstance(item, dict):
            if len(item) != 1:
                raise _invalid(
                    "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."
                )
            ((name, value),) = item.items()
            if not isinstance(value, str):
                raise _invalid(f"Invalid Simple-Condition: value of '{name}' must be a string.")
            out.append(Condition("eq", str(name).lower(), value, label=str(name)))
        elif isinstance(item, list) and len(item) == 3 and str(item[0]).lower() == "content-length-range":
            try:
                low, high = int(item[1]), int(item[2])
            except (TypeError, ValueError):
                raise _invalid("Invalid content-length-range: the bounds must be integers.") from None
            out.append(Condition("content-length-range", "", low=low, high=high))
        elif (
            isinstance(item, list)
            and len(item) == 3
            and str(item[0]).lower() in ("eq", "starts-with")
            and isinstance(item[1], str)
            and item[1].startswith("$")
            and isinstance(item[2], str)
        ):
            out.append(Condition(str(item[0]).lower(), item[1][1:].lower(), item[2], label=item[1][1:]))
        else:
            raise _invalid(f"Invalid Condition: {json.dumps(item)}")
    return out


def _refused(detail: str) -> AccessDenied:
    return AccessDenied(f"Invalid according to Policy: {detail}")


def check(policy: FormPolicy, fields: Mapping[str, str], now: datetime) -> None:
    """Raise AccessDenied unless the policy is current and `fields` (lower-case names, with
    `bucket` and the final `key`) meet every condition and are all named by one."""
    if now > policy.expiration:
        raise _refused("Policy expired.")
    named = {c.field for c in policy.conditions}
    for condition in policy.conditions:
        if condition.op == "content-length-range":
            continue  # checked on the file as it streams
        value = fields.get(condition.field)
        if value is None or not condition.holds(value):
            raise _refused(f"Policy Condition failed: {condition.text()}")
    extra = [
        name
        for name in fields
        if name not in named
        and name not in UNCHECKED_FIELDS
        and name != "bucket"
        and not name.startswith("x-ignore-")
    ]
    if extra:
        raise _refused(f"Extra input fields: {', '.join(extra)}")


def sigv4_signature(signing_key: bytes, policy_b64: str) -> str:
    return hmac.new(signing_key, policy_b64.encode(), hashlib.sha256).hexdigest()
