"""S3 bucket naming rules (general purpose buckets), checked before a bucket is created.

From the AWS "Bucket naming rules" page: 3-63 characters; only lowercase letters, digits,
dots and hyphens; begins and ends with a letter or digit; no two adjacent periods; not
formatted as an IPv4 address; not starting with `xn--`, `sthree-` or `amzn-s3-demo-`; not
ending with `-s3alias`, `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3`.
"""

from __future__ import annotations

import re

_ALLOWED = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid bucket name, or None if it is."""
    if not 3 <= len(name) <= 63:
        return "bucket names must be between 3 and 63 characters long"
    if not _ALLOWED.match(name):
        return "bucket names may contain only lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit"
    if ".." in name:
        return "bucket names must not contain two adjacent periods"
    if _IPV4.match(name):
        return "bucket names must not be formatted as an IP address"
    if name.startswith(_BAD_PREFIXES):
        return "bucket names must not start with a reserved prefix"
    if name.endswith(_BAD_SUFFIXES):
        return "bucket names must not end with a reserved suffix"
    return None
