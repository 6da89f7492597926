"""Server-side encryption (SSE-S3) on a real cluster, with boto3 and the `aws` CLI: what clients
see, and that the data nodes' files hold no plaintext of an encrypted object."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_e2e_aws_cli import aws, s3api
from tests.support.cluster import RunningCluster

MiB = 1024 * 1024


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-sse-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _marked(label: bytes, size: int) -> bytes:
    """`size` bytes of numbered `label` records: any window of the body names its label."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += b"%s-%08d|" % (label, i)
        i += 1
    return bytes(out[:size])


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            found.append(path)
    return found


def test_sse_s3_round_trip_ranges_and_no_plaintext_on_disk(
    cluster: RunningCluster, s3: Any, bucket: str
) -> None:
    if cluster.data_dir is None:
        pytest.skip("reads the data nodes' files: needs a local cluster")
    secret = _marked(b"sse-secret-" + uuid.uuid4().hex[:8].encode(), 3 * MiB + 777)
    control = _marked(b"sse-control-" + uuid.uuid4().hex[:8].encode(), 1 * MiB)
    put = s3.put_object(Bucket=bucket, Key="secret", Body=secret, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(secret).hexdigest()}"'
    s3.put_object(Bucket=bucket, Key="control", Body=control)
    got = s3.get_object(Bucket=bucket, Key="secret")
    assert (got["ServerSideEncryption"], got["Body"].read()) == ("AES256", secret)
    for start, end in [
        (0, 99),
        (65_530, 65_545),
        (MiB - 3, 2 * MiB + 3),
        (len(secret) - 10, len(secret) - 1),
    ]:
        ranged = s3.get_object(Bucket=bucket, Key="secret", Range=f"bytes={start}-{end}")
        assert ranged["Body"].read() == secret[start : end + 1]
    datanodes = cluster.data_dir / "datanodes"
    # the scan finds an unencrypted object's bytes, so finding none of the encrypted one's means something
    assert _files_containing(datanodes, control[MiB // 2 : MiB // 2 + 40])
    for offset in (0, MiB // 2, 2 * MiB + 5, len(secret) - 40):
        assert _files_containing(datanodes, secret[offset : offset + 40]) == []
    keyring = cluster.data_dir / "master-keyring.json"
    assert keyring.stat().st_mode & 0o777 == 0o600


def test_sse_s3_multipart_and_copy_with_boto3(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(MiB + 1)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    done = []
    for n, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=data)
        assert r["ServerSideEncryption"] == "AES256"
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert (got["ServerSideEncryption"], got["Body"].read()) == ("AES256", whole)
    edge = len(parts[0])
    assert (
        s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={edge - 5}-{edge + 5}")["Body"].read()
        == (whole[edge - 5 : edge + 6])
    )
    copy = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert "ServerSideEncryption" not in copy
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == whole
    again = s3.copy_object(
        Bucket=bucket,
        Key="again",
        CopySource={"Bucket": bucket, "Key": "copy"},
        ServerSideEncryption="AES256",
    )
    assert again["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="again")["Body"].read() == whole


def test_aws_cli_sse(cluster: RunningCluster, bucket: str, tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(os.urandom(100_000))
    large.write_bytes(os.urandom(20 * MiB))  # above the CLI's 8 MiB multipart threshold
    for path in (small, large):
        aws(cluster, "s3", "cp", str(path), f"s3://{bucket}/{path.name}", "--sse", "AES256")
        head = s3api(cluster, "head-object", "--bucket", bucket, "--key", path.name)
        assert head["ServerSideEncryption"] == "AES256"
        back = tmp_path / f"{path.name}.back"
        aws(cluster, "s3", "cp", f"s3://{bucket}/{path.name}", str(back))
        assert back.read_bytes() == path.read_bytes()
    put = s3api(
        cluster,
        "put-object",
        "--bucket",
        bucket,
        "--key",
        "api",
        "--body",
        str(small),
        "--server-side-encryption",
        "AES256",
    )
    assert put["ServerSideEncryption"] == "AES256"


def test_bucket_default_encryption_with_the_aws_cli(
    cluster: RunningCluster, bucket: str, tmp_path: Path
) -> None:
    config = '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
    aws(
        cluster,
        "s3api",
        "put-bucket-encryption",
        "--bucket",
        bucket,
        "--server-side-encryption-configuration",
        config,
    )
    got = s3api(cluster, "get-bucket-encryption", "--bucket", bucket)
    rule = got["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    path = tmp_path / "f"
    path.write_bytes(os.urandom(300_000))
    aws(cluster, "s3", "cp", str(path), f"s3://{bucket}/f")  # no --sse: the bucket's default applies
    assert s3api(cluster, "head-object", "--bucket", bucket, "--key", "f")["ServerSideEncryption"] == "AES256"
    back = tmp_path / "back"
    aws(cluster, "s3", "cp", f"s3://{bucket}/f", str(back))
    assert back.read_bytes() == path.read_bytes()
    aws(cluster, "s3api", "delete-bucket-encryption", "--bucket", bucket)
    missing = aws(cluster, "s3api", "get-bucket-encryption", "--bucket", bucket, check=False)
    assert missing.returncode != 0 and "ServerSideEncryptionConfigurationNotFoundError" in missing.stderr


def test_sse_c_with_boto3_and_the_aws_cli(
    cluster: RunningCluster, s3: Any, bucket: str, tmp_path: Path
) -> None:
    key = os.urandom(32)
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    body = os.urandom(2 * MiB + 3)
    s3.put_object(Bucket=bucket, Key="c", Body=body, **sse_c)
    assert s3.get_object(Bucket=bucket, Key="c", **sse_c)["Body"].read() == body
    ranged = s3.get_object(Bucket=bucket, Key="c", Range="bytes=100-70000", **sse_c)["Body"].read()
    assert ranged == body[100:70001]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c")
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
    # the aws CLI takes the key as text
    text_key = "0123456789abcdef0123456789abcdef"
    path, back = tmp_path / "f", tmp_path / "back"
    path.write_bytes(os.urandom(9 * MiB))  # multipart with the CLI's 8 MiB parts, each with the key
    aws(cluster, "s3", "cp", str(path), f"s3://{bucket}/cli", "--sse-c", "AES256", "--sse-c-key", text_key)
    aws(cluster, "s3", "cp", f"s3://{bucket}/cli", str(back), "--sse-c", "AES256", "--sse-c-key", text_key)
    assert back.read_bytes() == path.read_bytes()
    failed = aws(cluster, "s3", "cp", f"s3://{bucket}/cli", str(back), check=False)
    assert failed.returncode != 0
