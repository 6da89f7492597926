"""AWS Signature Version 4 for a benchmark client: header auth with `UNSIGNED-PAYLOAD`.

The usual steps (canonical request, string to sign, HMAC-SHA256 chain), kept cheap per request: the
signing key is derived once per (day, region, service) and cached, and the `x-amz-date` string once
per second. A request's path and query are encoded once by `target()`, and that same text is both
sent and signed, so the server canonicalizes exactly what was signed.

`check_against_botocore()` signs sample requests here and with botocore's S3SigV4Auth and returns
any difference (`s3_compare.py --self-check`; tests/unit/benchmarks/ runs the same comparison).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def quote_path(path: str) -> str:
    """A path as S3 canonicalizes it: every byte but unreserved characters and '/' percent-encoded."""
    return quote(path, safe="/-_.~")


def canonical_query(query: Sequence[tuple[str, str]]) -> str:
    """Query parameters encoded and sorted as SigV4 wants them (also fine to send as-is)."""
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def target(path: str, query: Sequence[tuple[str, str]] = ()) -> str:
    """The request-target of the HTTP request line: encoded path, then the canonical query."""
    q = canonical_query(query)
    return quote_path(path) + (f"?{q}" if q else "")


class Signer:
    """Signs requests for one access key in one region and service, caching the derived keys."""

    def __init__(self, access_key: str, secret_key: str, region: str, service: str = "s3") -> None:
        self.access_key = access_key
        self.region = region
        self.service = service
        self._secret = ("AWS4" + secret_key).encode()
        self._keys: dict[str, bytes] = {}
        self._date_second = -1
        self._amz_date = ""

    def amz_date(self) -> str:
        """Now as `YYYYMMDDTHHMMSSZ`, formatted once per second."""
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        return self._amz_date

    def signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            key = self._secret
            for part in (day, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {day: key}  # one day at a time: yesterday's key is never needed again
        return key

    def authorization(self, method: str, request_target: str, headers: Mapping[str, str]) -> str:
        """The Authorization header for a request whose (lower-case) `headers` are all signed; they
        must include host, x-amz-date and x-amz-content-sha256. `request_target` comes from
        `target()`, so it is already canonical."""
        path, _, query = request_target.partition("?")
        names = sorted(headers)
        canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
        signed = ";".join(names)
        canonical = "\n".join(
            (method, path, query, canonical_headers, signed, headers["x-amz-content-sha256"])
        )
        amz_date = headers["x-amz-date"]
        scope = f"{amz_date[:8]}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self.signing_key(amz_date[:8]), to_sign.encode(), hashlib.sha256).hexdigest()
        return (
            f"{ALGORITHM} Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )


#: Requests the self-check signs both ways: (method, path, query, extra signed headers).
SAMPLES: tuple[tuple[str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], ...] = (
    ("PUT", "/bench-bucket/bench/small/000001", (), ()),
    ("GET", "/bench-bucket/bench/large/0003", (), ()),
    ("GET", "/bench-bucket", (("list-type", "2"), ("max-keys", "1000"), ("prefix", "bench/list/")), ()),
    (
        "GET",
        "/bench-bucket",
        (
            ("list-type", "2"),
            ("continuation-token", "YmVuY2gv+a/b=="),
        ),
        (),
    ),
    ("POST", "/bench-bucket/bench/multipart", (("uploads", ""),), ()),
    ("PUT", "/bench-bucket/bench/multipart", (("partNumber", "3"), ("uploadId", "2~abc/def+g=")), ()),
    ("POST", "/bench-bucket", (("delete", ""),), (("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),)),
    ("GET", "/bench-bucket/a key/with ü & + = ; signs/~x.y", (), ()),
    ("DELETE", "/bench-bucket/bench/small/000001", (), (("x-amz-meta-note", "  two   spaces "),)),
)


def check_against_botocore(
    access_key: str = "AKIDEXAMPLE",
    secret_key: str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    region: str = "us-east-1",
    endpoint: str = "http://127.0.0.1:9000",
) -> list[str]:
    """Sign every SAMPLES request here and with botocore (same x-amz-date); one line per mismatch."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    signer = Signer(access_key, secret_key, region)
    host = endpoint.split("://", 1)[1]
    problems = []
    for method, path, query, extra in SAMPLES:
        request_target = target(path, query)
        request = AWSRequest(method=method, url=endpoint + request_target, headers=dict(extra))
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        S3SigV4Auth(Credentials(access_key, secret_key), "s3", region).add_auth(request)
        headers = {
            "host": host,
            "x-amz-date": request.headers["X-Amz-Date"],
            "x-amz-content-sha256": UNSIGNED_PAYLOAD,
            **dict(extra),
        }
        ours = signer.authorization(method, request_target, headers)
        theirs = request.headers["Authorization"]
        if ours != theirs:
            problems.append(f"{method} {request_target}:\n  ours     {ours}\n  botocore {theirs}")
    return problems
