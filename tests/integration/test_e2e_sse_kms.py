"""SSE-KMS on a real cluster: keys made with `cairn admin kms`, objects written and read with
boto3 and the `aws` CLI, the errors S3 answers for unknown and disabled keys, and no plaintext
of a KMS-encrypted object in the data nodes' files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_e2e_aws_cli import aws, s3api
from tests.integration.test_e2e_form_upload import post_form
from tests.integration.test_e2e_sse import _files_containing, _marked
from tests.support.cluster import RunningCluster

MiB = 1024 * 1024
ARN_PREFIX = "arn:aws:kms:us-east-1:000000000000:key/"


def kms_admin(cluster: RunningCluster, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "admin", "kms", *argv, "--data-dir", str(cluster.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def kms_json(cluster: RunningCluster, *argv: str) -> Any:
    done = kms_admin(cluster, *argv, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def local(cluster: RunningCluster) -> RunningCluster:
    if cluster.data_dir is None:
        pytest.skip("administers the built-in key store of a local cluster")
    return cluster


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-kms-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_kms_keys_and_objects_with_boto3(local: RunningCluster, s3: Any, bucket: str) -> None:
    alias = f"e2e-{uuid.uuid4().hex[:8]}"
    created = kms_json(local, "create", "--alias", alias, "--description", "test key")
    assert created["arn"] == ARN_PREFIX + created["key_id"] and created["state"] == "Enabled"
    assert created["alias"] == f"alias/{alias}" and created["master_key_id"].startswith("mk-")
    listed = kms_json(local, "list")["keys"]
    assert created["key_id"] in [k["key_id"] for k in listed]
    assert kms_json(local, "describe", f"alias/{alias}")["key_id"] == created["key_id"]
    table = kms_admin(local, "list").stdout.splitlines()
    assert table[0].split()[:3] == ["KEY", "ID", "ALIAS"] and any(created["key_id"] in r for r in table)

    secret = _marked(b"kms-secret-" + uuid.uuid4().hex[:8].encode(), 2 * MiB + 99)
    context = base64.b64encode(json.dumps({"team": "blue"}).encode()).decode()
    for n, ref in enumerate((created["key_id"], created["arn"], f"alias/{alias}")):
        put = s3.put_object(
            Bucket=bucket,
            Key=f"k{n}",
            Body=secret,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=ref,
            SSEKMSEncryptionContext=context,
            BucketKeyEnabled=True,
        )
        assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", created["arn"])
        assert put["SSEKMSEncryptionContext"] == context and put["BucketKeyEnabled"] is True
        assert put["ETag"] != f'"{hashlib.md5(secret).hexdigest()}"'  # as AWS: not the MD5
    got = s3.get_object(Bucket=bucket, Key="k2")
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"], got["BucketKeyEnabled"]) == (
        "aws:kms",
        created["arn"],
        True,
    )
    assert got["Body"].read() == secret
    ranged = s3.get_object(Bucket=bucket, Key="k0", Range="bytes=65530-200000")["Body"].read()
    assert ranged == secret[65530:200001]
    head = s3.head_object(Bucket=bucket, Key="k1")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", created["arn"])

    # no key named: AWS's default key alias/aws/s3, created on first use
    put = s3.put_object(Bucket=bucket, Key="default", Body=b"x" * 1000, ServerSideEncryption="aws:kms")
    default = kms_json(local, "describe", "alias/aws/s3")
    assert put["SSEKMSKeyId"] == default["arn"] and default["arn"].startswith(ARN_PREFIX)
    assert s3.get_object(Bucket=bucket, Key="default")["Body"].read() == b"x" * 1000
    again = s3.put_object(Bucket=bucket, Key="default2", Body=b"y", ServerSideEncryption="aws:kms")
    assert again["SSEKMSKeyId"] == default["arn"]  # the same key, not a second one

    assert local.data_dir is not None
    datanodes = local.data_dir / "datanodes"
    for offset in (0, MiB, len(secret) - 40):
        assert _files_containing(datanodes, secret[offset : offset + 40]) == []


def test_unknown_and_disabled_keys(local: RunningCluster, s3: Any, bucket: str) -> None:
    missing = "11111111-2222-3333-4444-555555555555"
    for ref in (missing, ARN_PREFIX + missing, "alias/no-such-alias", "not-a-key"):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=ref)
        assert _error(exc) == (400, "KMS.NotFoundException")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", SSEKMSKeyId=missing)
    assert _error(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.put_object(
            Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSEncryptionContext="e30x!"
        )
    assert _error(exc) == (400, "InvalidArgument")

    key = kms_json(local, "create")
    body = os.urandom(300_000)
    s3.put_object(
        Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["key_id"]
    )
    assert kms_json(local, "disable", key["key_id"])["state"] == "Disabled"
    with pytest.raises(ClientError) as exc:
        s3.put_object(
            Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["arn"]
        )
    assert _error(exc) == (400, "KMS.DisabledException")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert _error(exc) == (400, "KMS.DisabledException")
    assert s3.head_object(Bucket=bucket, Key="k")["SSEKMSKeyId"] == key["arn"]  # HEAD needs no key
    assert kms_json(local, "enable", key["arn"])["state"] == "Enabled"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
    refused = kms_admin(local, "disable", missing)
    assert refused.returncode == 1 and refused.stderr.startswith("cairn admin: NoSuchKmsKey: ")
    taken = kms_admin(local, "create", "--alias", "aws/s3")
    assert taken.returncode == 1 and "InvalidArgument" in taken.stderr


def test_kms_multipart_copy_and_bucket_default(local: RunningCluster, s3: Any, bucket: str) -> None:
    key = kms_json(local, "create")
    parts = [os.urandom(5 * MiB), os.urandom(MiB + 7)]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["key_id"]
    )
    assert upload["SSEKMSKeyId"] == key["arn"]
    done = []
    for n, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=data)
        assert (r["ServerSideEncryption"], r["SSEKMSKeyId"]) == ("aws:kms", key["arn"])
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    complete = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    assert complete["SSEKMSKeyId"] == key["arn"]
    whole = b"".join(parts)
    edge = len(parts[0])
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={edge - 5}-{edge + 5}")
    assert got["Body"].read() == whole[edge - 5 : edge + 6]
    # copies between encryption modes
    plain = s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "mp"})
    assert "ServerSideEncryption" not in plain
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == whole
    back = s3.copy_object(
        Bucket=bucket,
        Key="back",
        CopySource={"Bucket": bucket, "Key": "plain"},
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key["arn"],
    )
    assert back["SSEKMSKeyId"] == key["arn"]
    assert s3.get_object(Bucket=bucket, Key="back")["Body"].read() == whole

    # bucket default encryption with a named key
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key["key_id"],
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key["key_id"],
    }
    put = s3.put_object(Bucket=bucket, Key="defaulted", Body=b"d" * 5000)
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"], put["BucketKeyEnabled"]) == (
        "aws:kms",
        key["arn"],
        True,
    )
    assert s3.get_object(Bucket=bucket, Key="defaulted")["Body"].read() == b"d" * 5000

    # a browser form upload asking for SSE-KMS in its fields
    fields = {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": key["arn"],
    }
    form = s3.generate_presigned_post(
        bucket, "form", Fields=fields, Conditions=[{k: v} for k, v in fields.items()], ExpiresIn=300
    )
    data = os.urandom(200_000)
    reply = post_form(local, form["url"], form["fields"], data)
    assert reply.status == 204, reply.data
    assert reply.headers["x-amz-server-side-encryption-aws-kms-key-id"] == key["arn"]
    got = s3.get_object(Bucket=bucket, Key="form")
    assert (got["SSEKMSKeyId"], got["Body"].read()) == (key["arn"], data)


def test_aws_cli_sse_kms(local: RunningCluster, bucket: str, tmp_path: Path) -> None:
    key = kms_json(local, "create")
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(os.urandom(100_000))
    large.write_bytes(os.urandom(9 * MiB))  # above the CLI's 8 MiB multipart threshold
    for path in (small, large):
        aws(
            local,
            "s3",
            "cp",
            str(path),
            f"s3://{bucket}/{path.name}",
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            key["key_id"],
        )
        head = s3api(local, "head-object", "--bucket", bucket, "--key", path.name)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key["arn"])
        back = tmp_path / f"{path.name}.back"
        aws(local, "s3", "cp", f"s3://{bucket}/{path.name}", str(back))
        assert back.read_bytes() == path.read_bytes()
    put = s3api(
        local,
        "put-object",
        "--bucket",
        bucket,
        "--key",
        "api",
        "--body",
        str(small),
        "--server-side-encryption",
        "aws:kms",
    )
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"].startswith(ARN_PREFIX)
    failed = aws(
        local,
        "s3",
        "cp",
        str(small),
        f"s3://{bucket}/x",
        "--sse",
        "aws:kms",
        "--sse-kms-key-id",
        "alias/nope",
        check=False,
    )
    assert failed.returncode != 0 and "KMS.NotFoundException" in failed.stderr
