"""The `aws` CLI end to end, over HTTP (the session cluster) and HTTPS (a cluster of its own).

`aws s3 mb/cp/ls/sync/rm/rb`, a 100 MiB multipart copy with the CLI's defaults (8 MiB threshold
and parts, CRC32 checksums) and back byte-identical, `aws s3api` for head-object and
list-object-versions. Over HTTPS botocore sends PutObject/UploadPart bodies as aws-chunked with
STREAMING-UNSIGNED-PAYLOAD-TRAILER and a CRC32 trailer, so that path runs with the CLI and boto3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import RunningCluster, external_cluster, start_cluster

AWS = str(Path(sys.executable).parent / "aws")
MiB = 1024 * 1024


def aws(
    cluster: RunningCluster, *args: str, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    ran = subprocess.run(
        [AWS, "--endpoint-url", cluster.endpoint, *args],
        env=cluster.aws_env(),
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=300,
    )
    result = subprocess.CompletedProcess(
        ran.args, ran.returncode, ran.stdout.decode(errors="replace"), ran.stderr.decode(errors="replace")
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"aws {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def s3api(cluster: RunningCluster, *args: str) -> dict[str, Any]:
    out = aws(cluster, "s3api", *args, "--output", "json").stdout
    return json.loads(out) if out.strip() else {}


def bucket_name(prefix: str = "e2e-cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; returns their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, 8 * MiB))
            digest.update(block)
            f.write(block)
            remaining -= len(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 * MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- HTTP -----------------------------------------------------------------------------------------


def test_mb_cp_ls_rm_rb(cluster: RunningCluster, tmp_path: Path) -> None:
    name = bucket_name()
    assert f"make_bucket: {name}" in aws(cluster, "s3", "mb", f"s3://{name}").stdout
    local = tmp_path / "hello world.txt"
    local.write_bytes(b"hello from the aws cli\n" * 100)
    aws(cluster, "s3", "cp", str(local), f"s3://{name}/dir/hello world.txt")

    listing = aws(cluster, "s3", "ls", f"s3://{name}/dir/").stdout
    line = next(ln for ln in listing.splitlines() if ln.endswith("hello world.txt"))
    assert line.split()[2] == str(local.stat().st_size)
    assert "PRE dir/" in aws(cluster, "s3", "ls", f"s3://{name}").stdout

    back = tmp_path / "back.txt"
    aws(cluster, "s3", "cp", f"s3://{name}/dir/hello world.txt", str(back))
    assert back.read_bytes() == local.read_bytes()

    removed = aws(cluster, "s3", "rm", f"s3://{name}/dir/hello world.txt").stdout
    assert f"delete: s3://{name}/dir/hello world.txt" in removed
    assert f"remove_bucket: {name}" in aws(cluster, "s3", "rb", f"s3://{name}").stdout
    assert name not in aws(cluster, "s3", "ls").stdout.split()
    missing = aws(cluster, "s3", "ls", f"s3://{name}", check=False)
    assert missing.returncode != 0
    assert "NoSuchBucket" in missing.stderr


def test_sync_up_and_down(cluster: RunningCluster, s3: Any, tmp_path: Path) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    src = tmp_path / "src"
    files = {
        "a.txt": b"alpha\n",
        "nested/b.bin": os.urandom(70_000),
        "nested/deeper/c d.txt": b"with a space\n",
        "unicode/ünï.txt": "ünïcödé\n".encode(),
        "empty": b"",
    }
    for rel, data in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        # Files from an hour ago: sync compares mtimes with second-resolution LastModified.
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime - 3600))

    first = aws(cluster, "s3", "sync", str(src), f"s3://{name}/tree", "--no-progress").stdout
    assert first.count("upload:") == len(files)
    listed = aws(cluster, "s3", "ls", f"s3://{name}/tree/", "--recursive").stdout
    assert sorted(ln.split(None, 3)[3] for ln in listed.splitlines()) == sorted(
        f"tree/{rel}" for rel in files
    )

    assert aws(cluster, "s3", "sync", str(src), f"s3://{name}/tree", "--no-progress").stdout.strip() == ""

    (src / "a.txt").write_bytes(b"alpha, changed and longer\n")
    (src / "nested/b.bin").unlink()
    changed = aws(cluster, "s3", "sync", str(src), f"s3://{name}/tree", "--delete", "--no-progress").stdout
    assert sorted(ln.split(":")[0] for ln in changed.splitlines() if ln.strip()) == ["delete", "upload"]
    assert f"s3://{name}/tree/a.txt" in changed and f"s3://{name}/tree/nested/b.bin" in changed

    dst = tmp_path / "dst"
    aws(cluster, "s3", "sync", f"s3://{name}/tree", str(dst), "--no-progress")
    assert tree(dst) == tree(src)

    not_empty = aws(cluster, "s3", "rb", f"s3://{name}", check=False)
    assert not_empty.returncode != 0
    assert "BucketNotEmpty" in not_empty.stderr


def test_rb_force_removes_a_full_bucket(cluster: RunningCluster, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    for i in range(3):
        s3.put_object(Bucket=name, Key=f"dir/k{i}", Body=b"x" * i)
    assert f"remove_bucket: {name}" in aws(cluster, "s3", "rb", f"s3://{name}", "--force").stdout
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_cp_100_mib_multipart_round_trip(cluster: RunningCluster, s3: Any, tmp_path: Path) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    local = tmp_path / "big.bin"
    size = 100 * MiB
    digest = random_file(local, size)
    aws(cluster, "s3", "cp", str(local), f"s3://{name}/big.bin", "--no-progress")

    head = s3api(cluster, "head-object", "--bucket", name, "--key", "big.bin")
    assert head["ContentLength"] == size
    assert head["ETag"].endswith('-13"')  # 8 MiB parts: the CLI really did a multipart upload
    local.unlink()

    back = tmp_path / "back.bin"
    aws(cluster, "s3", "cp", f"s3://{name}/big.bin", str(back), "--no-progress")
    assert back.stat().st_size == size
    assert sha256_file(back) == digest


def test_cp_from_stdin(cluster: RunningCluster, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    data = os.urandom(9 * MiB)  # unknown length, more than the 8 MiB threshold: multipart from a stream
    aws(cluster, "s3", "cp", "-", f"s3://{name}/streamed", stdin=data)
    got = s3.get_object(Bucket=name, Key="streamed")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_s3api_head_object_with_metadata(cluster: RunningCluster, s3: Any, tmp_path: Path) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    local = tmp_path / "doc.txt"
    local.write_bytes(b"document")
    aws(
        cluster,
        "s3",
        "cp",
        str(local),
        f"s3://{name}/doc.txt",
        "--metadata",
        "color=blue,owner=team-a",
        "--content-type",
        "text/x-test",
        "--cache-control",
        "no-cache",
    )
    head = s3api(cluster, "head-object", "--bucket", name, "--key", "doc.txt")
    assert head["Metadata"] == {"color": "blue", "owner": "team-a"}
    assert head["ContentType"] == "text/x-test"
    assert head["CacheControl"] == "no-cache"
    assert head["ContentLength"] == 8
    assert head["ETag"] == f'"{hashlib.md5(b"document").hexdigest()}"'

    missing = aws(cluster, "s3api", "head-object", "--bucket", name, "--key", "absent", check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr


def test_s3api_list_object_versions(cluster: RunningCluster, s3: Any, tmp_path: Path) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3api(cluster, "put-bucket-versioning", "--bucket", name, "--versioning-configuration", "Status=Enabled")
    ids = [s3.put_object(Bucket=name, Key="v.txt", Body=body)["VersionId"] for body in (b"one", b"two")]
    listed = s3api(cluster, "list-object-versions", "--bucket", name)
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(ids[1], True), (ids[0], False)]

    out = tmp_path / "old.txt"
    s3api(cluster, "get-object", "--bucket", name, "--key", "v.txt", "--version-id", ids[0], str(out))
    assert out.read_bytes() == b"one"


# --- HTTPS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    if external_cluster() is not None:
        pytest.skip("the HTTPS checks start their own local cairn up --tls cluster")
    running = start_cluster(tmp_path_factory.mktemp("cairn-tls"), tls=True)
    try:
        assert running.endpoint.startswith("https://")
        assert running.tls_cert and Path(running.tls_cert).is_file()
        yield running
    finally:
        running.stop()


def test_tls_cli_round_trip(tls_cluster: RunningCluster, tmp_path: Path) -> None:
    name = bucket_name("e2e-tls")
    assert f"make_bucket: {name}" in aws(tls_cluster, "s3", "mb", f"s3://{name}").stdout
    up = tmp_path / "up"
    up.mkdir()
    (up / "small.txt").write_bytes(b"over https\n")
    digest = random_file(up / "big.bin", 20 * MiB)
    aws(tls_cluster, "s3", "cp", str(up), f"s3://{name}/", "--recursive", "--no-progress")

    listing = aws(tls_cluster, "s3", "ls", f"s3://{name}").stdout
    sizes = {ln.split()[3]: int(ln.split()[2]) for ln in listing.splitlines()}
    assert sizes == {"small.txt": 11, "big.bin": 20 * MiB}
    head = s3api(tls_cluster, "head-object", "--bucket", name, "--key", "big.bin")
    assert head["ETag"].endswith('-3"')  # 20 MiB in 8 MiB parts

    down = tmp_path / "down"
    aws(tls_cluster, "s3", "cp", f"s3://{name}/", str(down), "--recursive", "--no-progress")
    assert (down / "small.txt").read_bytes() == b"over https\n"
    assert sha256_file(down / "big.bin") == digest

    assert aws(tls_cluster, "s3", "rm", f"s3://{name}/", "--recursive").stdout.count("delete:") == 2
    assert f"remove_bucket: {name}" in aws(tls_cluster, "s3", "rb", f"s3://{name}").stdout


def test_tls_boto3_put_get_with_chunked_trailer(tls_cluster: RunningCluster) -> None:
    s3 = tls_cluster.s3_client()
    sent: list[dict[str, str]] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(
            {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        )

    s3.meta.events.register("before-send.s3.PutObject", capture)
    name = bucket_name("e2e-tls")
    s3.create_bucket(Bucket=name)
    body = os.urandom(3 * MiB + 5)
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    put = s3.put_object(Bucket=name, Key="obj", Body=body)
    # The request really was aws-chunked with a trailer (what this test is about).
    assert sent[-1]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert "aws-chunked" in sent[-1]["content-encoding"]
    assert sent[-1]["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ChecksumCRC32"] == crc

    got = s3.get_object(Bucket=name, Key="obj", ChecksumMode="ENABLED")
    assert got["ContentLength"] == len(body)
    assert got.get("ContentEncoding", "") in ("", None)  # aws-chunked is transport framing, never stored
    assert got["ChecksumCRC32"] == crc
    assert got["Body"].read() == body

    s3.put_object(Bucket=name, Key="empty", Body=b"")
    assert s3.get_object(Bucket=name, Key="empty")["Body"].read() == b""


def test_tls_presigned_get_and_errors(tls_cluster: RunningCluster) -> None:
    s3 = tls_cluster.s3_client(signature_version="s3v4")
    name = bucket_name("e2e-tls")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="shared", Body=b"tls presigned")
    context = ssl.create_default_context(cafile=tls_cluster.tls_cert)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "shared"}, ExpiresIn=60)
    assert url.startswith("https://")
    with urllib.request.urlopen(url, timeout=30, context=context) as response:  # noqa: S310
        assert response.read() == b"tls presigned"
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url.replace("/shared?", "/absent?"), timeout=30, context=context)  # noqa: S310
    assert exc.value.code == 403  # the signature covers the path
    assert b"<Code>SignatureDoesNotMatch</Code>" in exc.value.read()
