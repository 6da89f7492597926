"""S3 bucket policies and IAM user policies: parse and validate a JSON document, evaluate it.

Pure: no I/O. `parse_policy` turns a document into `PolicyDoc` or raises `MalformedPolicy` (with
AWS's wording where AWS has one); `evaluate` answers what the statements say about one request:
`DENY` (an explicit Deny matched), `ALLOW` (an Allow matched and no Deny) or `None` (nothing
matched: the implicit deny). Combining several policies with the owner and root rules is
`access.decide`.

Matching follows the IAM policy language:
- `Action`/`NotAction`: `s3:Name` patterns with `*` and `?`, case-insensitive; `*` is every action.
- `Resource`/`NotResource`: ARN patterns with `*` and `?`, case-sensitive, after substituting the
  policy variables `${aws:username}`, `${aws:userid}`, `${aws:PrincipalAccount}`, `${*}`, `${?}`,
  `${$}` (a variable with no value leaves the statement unmatched).
- `Principal`/`NotPrincipal` (bucket policies only): `"*"` or `{"AWS": "*"}` is everyone, the
  anonymous caller included; `{"AWS": ...}` takes an account id, `arn:aws:iam::<account>:root`
  (every principal of that account) or a user ARN; `{"CanonicalUser": ...}` a user id.
- `Condition`: every operator block and every key in it must hold. A key's values are alternatives
  (any may match); for a negated operator (`StringNotEquals`, `NotIpAddress`, ...) none may match.
  A key absent from the request fails a positive operator and satisfies a negated one; `...IfExists`
  makes an absent key satisfy any operator; `Null` tests presence. `ForAnyValue:`/`ForAllValues:`
  compare multi-valued keys. Condition key names are case-insensitive.
  Operators: String(Not)Equals(IgnoreCase), String(Not)Like, Numeric*, Date*, Bool, BinaryEquals,
  (Not)IpAddress, Arn(Not)Equals, Arn(Not)Like, Null.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from .errors import S3Error


class MalformedPolicy(S3Error):
    code, status, default_message = "MalformedPolicy", 400, "Policies must be valid JSON"


class Decision(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


VERSIONS = ("2012-10-17", "2008-10-17")
MAX_BUCKET_POLICY_BYTES = 20 * 1024

#: Every S3 action a policy may name (wildcard patterns must match at least one).
S3_ACTIONS = frozenset(
    "s3:" + name
    for name in (
        "AbortMultipartUpload CreateBucket DeleteBucket DeleteBucketPolicy DeleteObject "
        "DeleteObjectTagging DeleteObjectVersion DeleteObjectVersionTagging GetBucketAcl GetBucketCORS "
        "GetBucketLocation GetBucketObjectLockConfiguration GetBucketOwnershipControls GetBucketPolicy "
        "GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketTagging GetBucketVersioning "
        "GetBucketWebsite GetEncryptionConfiguration GetLifecycleConfiguration GetObject GetObjectAcl "
        "GetObjectAttributes GetObjectLegalHold GetObjectRetention GetObjectTagging GetObjectVersion "
        "GetObjectVersionAcl GetObjectVersionAttributes GetObjectVersionTagging ListAllMyBuckets "
        "ListBucket ListBucketMultipartUploads ListBucketVersions ListMultipartUploadParts PutBucketAcl "
        "PutBucketCORS PutBucketObjectLockConfiguration PutBucketOwnershipControls PutBucketPolicy "
        "PutBucketPublicAccessBlock PutBucketTagging PutBucketVersioning PutBucketWebsite "
        "PutEncryptionConfiguration PutLifecycleConfiguration PutObject PutObjectAcl PutObjectLegalHold "
        "PutObjectRetention PutObjectTagging PutObjectVersionAcl PutObjectVersionTagging "
        "BypassGovernanceRetention RestoreObject"
    ).split()
)

#: S3 condition keys (lower case) a policy may use besides `aws:*` and the tag families below.
S3_CONDITION_KEYS = frozenset(
    {
        "s3:prefix",
        "s3:delimiter",
        "s3:max-keys",
        "s3:versionid",
        "s3:x-amz-acl",
        "s3:x-amz-content-sha256",
        "s3:x-amz-copy-source",
        "s3:x-amz-metadata-directive",
        "s3:x-amz-server-side-encryption",
        "s3:x-amz-storage-class",
        "s3:x-amz-grant-read",
        "s3:x-amz-grant-write",
        "s3:x-amz-grant-read-acp",
        "s3:x-amz-grant-write-acp",
        "s3:x-amz-grant-full-control",
        "s3:authtype",
        "s3:signatureversion",
        "s3:signatureage",
        "s3:tlsversion",
        "s3:locationconstraint",
        "s3:object-lock-mode",
        "s3:object-lock-remaining-retention-days",
        "s3:requestobjecttagkeys",
        "s3:resourceaccount",
    }
)
_TAG_KEY_PREFIXES = ("s3:existingobjecttag/", "s3:requestobjecttag/", "aws:requesttag/", "aws:resourcetag/")

_STRING_OPS = {
    "StringEquals": lambda v, p: v == p,
    "StringEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
    "StringLike": lambda v, p: _glob(p, v, case=True),
    "ArnEquals": lambda v, p: v == p,
    "ArnLike": lambda v, p: _glob(p, v, case=True),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


# --- the request a policy is asked about -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. The anonymous caller has no ARN."""

    arn: str = ""
    user_id: str = ""
    user_name: str = ""
    account: str = ""
    is_root: bool = False

    @property
    def anonymous(self) -> bool:
        return not self.arn


ANONYMOUS = Principal()


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One authorization question: may `principal` do `action` on `resource`? `keys` are the
    condition keys of the request, lower-cased names -> values (absent keys are not in it)."""

    principal: Principal
    action: str
    resource: str
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# --- the parsed policy -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str  # base operator, e.g. "StringLike"; negation and IfExists are flags
    key: str  # lower case
    values: tuple[str, ...]
    negated: bool = False
    if_exists: bool = False
    qualifier: str = ""  # "", "ForAnyValue" or "ForAllValues"


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Decision
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    principals: tuple[tuple[str, str], ...] | None = None  # (kind, value); None: the policy's owner
    not_principal: bool = False
    conditions: tuple[Condition, ...] = ()
    sid: str = ""


@dataclass(frozen=True, slots=True)
class PolicyDoc:
    statements: tuple[Statement, ...]

    def mentions(self, key_prefix: str) -> bool:
        """Whether any condition uses a key starting with `key_prefix` (lower case)."""
        return any(c.key.startswith(key_prefix) for s in self.statements for c in s.conditions)


# --- parsing and validation ---------------------------------------------------------------------


def _strings(value: object, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise MalformedPolicy(f"Policy has invalid {what}")
    return tuple(items)  # type: ignore[arg-type]


def _condition_values(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            out.append(str(item))
        else:
            raise MalformedPolicy("Invalid Condition value")
    return tuple(out)


def _check_action(pattern: str) -> None:
    if pattern == "*":
        return
    if not pattern.lower().startswith("s3:"):
        raise MalformedPolicy("Policy has invalid action")
    if not any(_glob(pattern, action, case=False) for action in S3_ACTIONS):
        raise MalformedPolicy("Policy has invalid action")


def _check_resource(pattern: str, bucket: str | None) -> None:
    if pattern == "*":
        return
    if not pattern.startswith("arn:aws:s3:::"):
        raise MalformedPolicy("Policy has invalid resource")
    if bucket is not None:
        name = pattern[len("arn:aws:s3:::") :].split("/", 1)[0]
        if not _glob(name, bucket, case=True):
            raise MalformedPolicy("Policy has invalid resource")


def _parse_principal(value: object) -> tuple[tuple[str, str], ...]:
    if value == "*":
        return (("AWS", "*"),)
    if not isinstance(value, dict) or not value:
        raise MalformedPolicy("Invalid principal in policy")
    out: list[tuple[str, str]] = []
    for kind, ids in value.items():
        if kind not in ("AWS", "CanonicalUser", "Service", "Federated"):
            raise MalformedPolicy("Invalid principal in policy")
        for item in _strings(ids, "principal"):
            if kind == "AWS" and item != "*" and not _AWS_PRINCIPAL.match(item):
                raise MalformedPolicy("Invalid principal in policy")
            out.append((kind, item))
    return tuple(out)


_AWS_PRINCIPAL = re.compile(r"^(\d{12}|arn:aws:iam::\d{12}:(root|user/[\w+=,.@/-]+))$")


def _parse_condition_block(value: object) -> tuple[Condition, ...]:
    if not isinstance(value, dict):
        raise MalformedPolicy("Invalid Condition block")
    out: list[Condition] = []
    for raw_op, block in value.items():
        op: str = str(raw_op)
        qualifier = ""
        if ":" in op:
            qualifier, _, op = op.partition(":")
            if qualifier not in ("ForAnyValue", "ForAllValues"):
                raise MalformedPolicy(f"Invalid Condition type : {raw_op}")
        if_exists = op.endswith("IfExists") and op != "Null"
        if if_exists:
            op = op[: -len("IfExists")]
        negated = op in _NEGATED
        base: str = _NEGATED.get(op) or op
        if not _known_operator(base) or (base == "Null" and if_exists):
            raise MalformedPolicy(f"Invalid Condition type : {raw_op}")
        if not isinstance(block, dict) or not block:
            raise MalformedPolicy("Invalid Condition block")
        for key, raw_values in block.items():
            lower = key.lower()
            if not _known_key(lower):
                raise MalformedPolicy("Policy has an invalid condition key")
            values = _condition_values(raw_values)
            for v in values:
                _check_condition_value(base, v)
            out.append(Condition(base, lower, values, negated, if_exists, qualifier))
    return tuple(out)


def _known_operator(base: str) -> bool:
    if base in _STRING_OPS or base in ("Bool", "BinaryEquals", "IpAddress", "Null"):
        return True
    for family in ("Numeric", "Date"):
        if base.startswith(family) and base[len(family) :] in _COMPARE:
            return True
    return False


def _known_key(lower: str) -> bool:
    if lower.startswith(_TAG_KEY_PREFIXES):
        return True
    if lower.startswith("aws:"):
        return True
    return lower in S3_CONDITION_KEYS


def _check_condition_value(base: str, value: str) -> None:
    try:
        if base.startswith("Numeric"):
            float(value)
        elif base.startswith("Date"):
            parse_date(value)
        elif base == "IpAddress":
            ipaddress.ip_network(value, strict=False)
        elif base in ("Bool", "Null") and value.lower() not in ("true", "false"):
            raise ValueError(value)
        elif base == "BinaryEquals":
            base64.b64decode(value, validate=True)
    except ValueError:
        raise MalformedPolicy("Invalid Condition value") from None


def parse_policy(text: str | bytes, *, bucket: str | None = None) -> PolicyDoc:
    """Parse and validate a policy. With `bucket`, it is that bucket's policy: every statement
    needs a Principal and its resources must name the bucket; without, it is a user policy, where
    a Principal is not allowed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPolicy("Policies must be valid JSON and the first byte must be '{'") from None
    if not text.lstrip().startswith("{"):
        raise MalformedPolicy("Policies must be valid JSON and the first byte must be '{'")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        if isinstance(exc, MalformedPolicy):
            raise
        raise MalformedPolicy("Policies must be valid JSON") from None
    if not isinstance(doc, dict):
        raise MalformedPolicy("Policies must be valid JSON and the first byte must be '{'")
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise MalformedPolicy(f"Unknown field {sorted(unknown)[0]}")
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise MalformedPolicy("Invalid policy version")
    raw = doc.get("Statement")
    if raw is None:
        raise MalformedPolicy("Missing required field Statement")
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise MalformedPolicy("Could not parse the policy: Statement is empty!")
    return PolicyDoc(tuple(_parse_statement(item, bucket) for item in items))


class _Duplicate(MalformedPolicy, ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(f"Duplicate field {key}")
        out[key] = value
    return out


_STATEMENT_FIELDS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}


def _parse_statement(item: object, bucket: str | None) -> Statement:
    if not isinstance(item, dict):
        raise MalformedPolicy("Statement is not an object")
    unknown = set(item) - _STATEMENT_FIELDS
    if unknown:
        raise MalformedPolicy(f"Unknown field {sorted(unknown)[0]}")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicy("Invalid effect: " + str(effect) if effect else "Missing required field Effect")
    if ("Action" in item) == ("NotAction" in item):
        raise MalformedPolicy("Missing required field Action")
    if ("Resource" in item) == ("NotResource" in item):
        raise MalformedPolicy("Missing required field Resource")
    has_principal = "Principal" in item or "NotPrincipal" in item
    if "Principal" in item and "NotPrincipal" in item:
        raise MalformedPolicy("Invalid principal in policy")
    if bucket is not None and not has_principal:
        raise MalformedPolicy("Missing required field Principal")
    if bucket is None and has_principal:
        raise MalformedPolicy("Policy document should not specify a principal.")
    actions = _strings(item.get("Action", item.get("NotAction")), "action")
    for a in actions:
        _check_action(a)
    resources = _strings(item.get("Resource", item.get("NotResource")), "resource")
    for r in resources:
        _check_resource(r, bucket)
    principals = None
    if has_principal:
        principals = _parse_principal(item.get("Principal", item.get("NotPrincipal")))
    sid = item.get("Sid", "")
    if not isinstance(sid, str):
        raise MalformedPolicy("Invalid Sid")
    return Statement(
        effect=Decision(effect),
        actions=actions,
        not_action="NotAction" in item,
        resources=resources,
        not_resource="NotResource" in item,
        principals=principals,
        not_principal="NotPrincipal" in item,
        conditions=_parse_condition_block(item["Condition"]) if "Condition" in item else (),
        sid=sid,
    )


# --- evaluation ---------------------------------------------------------------------------------


_LITERAL_STAR, _LITERAL_QUESTION = "\ue000", "\ue001"  # ${*} and ${?} after substitution


@lru_cache(maxsize=4096)
def _pattern(pattern: str, case: bool) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == _LITERAL_STAR:
            out.append(re.escape("*"))
        elif ch == _LITERAL_QUESTION:
            out.append(re.escape("?"))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL | (0 if case else re.IGNORECASE))


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    """`*` any run (slashes included), `?` one character; nothing else is special."""
    return _pattern(pattern, case).fullmatch(value) is not None


def parse_date(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 date/time or an epoch number."""
    try:
        return float(value)
    except ValueError:
        pass
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _substitute(text: str, ctx: RequestContext) -> str | None:
    """Resolve policy variables; None when one has no value for this request."""
    if "${" not in text:
        return text
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1)
        if name in ("*", "?", "$"):
            return {"*": _LITERAL_STAR, "?": _LITERAL_QUESTION, "$": "$"}[name]
        values = ctx.keys.get(name.lower())
        if not values:
            missing = True
            return ""
        return values[0]

    out = _VARIABLE.sub(one, text)
    return None if missing else out


def _principal_matches(principals: tuple[tuple[str, str], ...], who: Principal) -> bool:
    for kind, value in principals:
        if kind == "AWS":
            if value == "*":
                return True
            if who.anonymous:
                continue
            if value == who.arn or value in (who.account, f"arn:aws:iam::{who.account}:root"):
                return True
        elif kind == "CanonicalUser" and not who.anonymous and value == who.user_id:
            return True
    return False


def _resource_matches(patterns: Sequence[str], ctx: RequestContext) -> bool:
    for pattern in patterns:
        resolved = _substitute(pattern, ctx)
        if resolved is not None and _glob(resolved, ctx.resource, case=True):
            return True
    return False


def _single(op: str, value: str, expected: str) -> bool:
    if op in _STRING_OPS:
        return bool(_STRING_OPS[op](value, expected))
    if op == "Bool":
        return value.lower() == expected.lower()
    if op == "BinaryEquals":
        return value == expected
    if op == "IpAddress":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(expected, strict=False)
        except ValueError:
            return False
    for family, convert in (("Numeric", float), ("Date", parse_date)):
        if op.startswith(family):
            try:
                return _COMPARE[op[len(family) :]](convert(value), convert(expected))
            except ValueError:
                return False
    return False  # pragma: no cover - parse_policy admits only the operators above


def _condition_holds(cond: Condition, ctx: RequestContext) -> bool:
    present = ctx.keys.get(cond.key)
    if cond.operator == "Null":
        wants_absent = cond.values[0].lower() == "true"
        return (not present) == wants_absent
    expected = [e for e in (_substitute(v, ctx) for v in cond.values) if e is not None]
    if cond.operator not in ("StringLike", "ArnLike"):
        expected = [e.replace(_LITERAL_STAR, "*").replace(_LITERAL_QUESTION, "?") for e in expected]
    if not present:
        if cond.qualifier == "ForAllValues":
            return True
        return cond.if_exists or cond.negated

    def matches(value: str) -> bool:
        return any(_single(cond.operator, value, e) for e in expected)

    if cond.qualifier == "ForAllValues":
        hit = all(matches(v) for v in present)
        return hit if not cond.negated else all(not matches(v) for v in present)
    hit = any(matches(v) for v in present)
    return not hit if cond.negated else hit


def _statement_matches(s: Statement, ctx: RequestContext) -> bool:
    if s.principals is not None and _principal_matches(s.principals, ctx.principal) == s.not_principal:
        return False
    action_hit = any(_glob(a, ctx.action, case=False) for a in s.actions)
    if action_hit == s.not_action:
        return False
    if _resource_matches(s.resources, ctx) == s.not_resource:
        return False
    return all(_condition_holds(c, ctx) for c in s.conditions)


def evaluate(policies: Iterable[PolicyDoc], ctx: RequestContext) -> Decision | None:
    """DENY if any statement denies, else ALLOW if any allows, else None (implicit deny)."""
    allowed = False
    for policy in policies:
        for s in policy.statements:
            if _statement_matches(s, ctx):
                if s.effect is Decision.DENY:
                    return Decision.DENY
                allowed = True
    return Decision.ALLOW if allowed else None


POLICY_ACTIONS = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})
"""What root may always do to a bucket, whatever its policy denies (so no policy locks it out)."""


def decide(
    ctx: RequestContext,
    *,
    owns: bool,
    bucket_policy: PolicyDoc | None,
    user_policies: Sequence[PolicyDoc] = (),
    acl_allows: bool = False,
) -> bool:
    """May the request go ahead? An explicit Deny in the bucket policy or the caller's user
    policies refuses it (except root managing the bucket policy); otherwise root may do anything,
    and so may the owner of the bucket (`owns`); anyone else needs an Allow from either policy or
    a grant in an ACL (`acl_allows`). The anonymous caller has no user policies."""
    who = ctx.principal
    identity = evaluate(user_policies, ctx) if not who.anonymous and not who.is_root else None
    resource = evaluate((bucket_policy,), ctx) if bucket_policy is not None else None
    if Decision.DENY in (identity, resource):
        return who.is_root and ctx.action in POLICY_ACTIONS
    if who.is_root or (owns and not who.anonymous):
        return True
    return Decision.ALLOW in (identity, resource) or acl_allows


def is_public(policy: PolicyDoc) -> bool:
    """Whether the policy allows anyone at all (GetBucketPolicyStatus): an Allow for the `*`
    principal, or a NotPrincipal Allow, without a condition that pins the caller down."""
    for s in policy.statements:
        if s.effect is not Decision.ALLOW or s.principals is None:
            continue
        everyone = s.not_principal or ("AWS", "*") in s.principals
        if not everyone:
            continue
        limiting = {"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourcearn", "aws:sourceaccount"}
        limiting |= {"aws:principalaccount", "aws:principalarn", "aws:userid", "aws:principalorgid"}
        if any(c.key in limiting and not c.negated for c in s.conditions):
            continue
        return True
    return False
