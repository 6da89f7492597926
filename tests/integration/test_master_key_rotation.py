"""Master-key rotation on a cluster of its own: `cairn admin kms rotate-master` re-seals every
stored key (SSE-S3 objects, a part of an upload in progress, KMS key material) under a new master
key and retires the old one; every object reads back, before and after a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.sse_crypto import Keyring
from tests.support.cluster import start_cluster

MiB = 1024 * 1024


def _read_all(s3: Any, bucket: str, expected: dict[str, bytes]) -> None:
    for key, body in expected.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key


@pytest.mark.slow
def test_rotate_restart_and_read_everything(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "c")
    assert cluster.data_dir is not None
    keyring_path = cluster.data_dir / "master-keyring.json"
    old = Keyring.load(keyring_path).active
    try:
        s3 = cluster.s3_client()
        s3.create_bucket(Bucket="rot")
        expected = {}
        for n in range(3):
            expected[f"s3-{n}"] = os.urandom(200_000 + n)
            s3.put_object(
                Bucket="rot", Key=f"s3-{n}", Body=expected[f"s3-{n}"], ServerSideEncryption="AES256"
            )
        expected["kms"] = os.urandom(100_000)
        s3.put_object(Bucket="rot", Key="kms", Body=expected["kms"], ServerSideEncryption="aws:kms")
        expected["plain"] = os.urandom(10_000)
        s3.put_object(Bucket="rot", Key="plain", Body=expected["plain"])
        parts = [os.urandom(5 * MiB), os.urandom(1000)]
        upload = s3.create_multipart_upload(Bucket="rot", Key="mp", ServerSideEncryption="AES256")
        first = s3.upload_part(
            Bucket="rot", Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=parts[0]
        )

        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cairn",
                "admin",
                "kms",
                "rotate-master",
                "--data-dir",
                str(cluster.data_dir),
            ]
            + ["--grace", "1", "--page", "2", "--json"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        keyring = Keyring.load(keyring_path)
        assert report["retired"] == [old] and report["active"] == keyring.active != old
        assert report["resealed"] >= 3 + 1 + 1  # the SSE-S3 versions, the part, the aws/s3 key
        assert set(keyring.keys) == {keyring.active}  # the old master key is gone from the file
        assert keyring_path.stat().st_mode & 0o777 == 0o600
        _read_all(s3, "rot", expected)

        second = s3.upload_part(
            Bucket="rot", Key="mp", UploadId=upload["UploadId"], PartNumber=2, Body=parts[1]
        )
        s3.complete_multipart_upload(
            Bucket="rot",
            Key="mp",
            UploadId=upload["UploadId"],
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
            },
        )
        expected["mp"] = b"".join(parts)
        _read_all(s3, "rot", expected)
    finally:
        cluster.stop()
    cluster = start_cluster(tmp_path / "c")
    try:
        _read_all(cluster.s3_client(), "rot", expected)
    finally:
        cluster.stop()
