"""ACLs on a real cluster through the aws CLI and plain anonymous HTTP: a bucket created with
ObjectWriter ownership, `aws s3 cp --acl public-read`, the ACL read back, the object served to an
unsigned GET until its ACL is set back to private; `--acl private` / `bucket-owner-full-control`
keep working on a default (BucketOwnerEnforced) bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import urllib3

from tests.integration.test_e2e_aws_cli import aws, bucket_name, s3api
from tests.support.cluster import RunningCluster

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def anonymous_get(cluster: RunningCluster, bucket: str, key: str) -> Any:
    http = urllib3.PoolManager(ca_certs=cluster.tls_cert) if cluster.tls_cert else urllib3.PoolManager()
    return http.request("GET", f"{cluster.endpoint}/{bucket}/{quote(key)}", retries=False, timeout=30)


def test_public_read_through_the_aws_cli(cluster: RunningCluster, tmp_path: Path) -> None:
    bucket = bucket_name("e2e-acl")
    s3api(cluster, "create-bucket", "--bucket", bucket, "--object-ownership", "ObjectWriter")
    controls = s3api(cluster, "get-bucket-ownership-controls", "--bucket", bucket)
    assert controls["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "ObjectWriter"}]
    (tmp_path / "page.html").write_bytes(b"<h1>public</h1>")
    aws(
        cluster,
        "s3",
        "cp",
        str(tmp_path / "page.html"),
        f"s3://{bucket}/site/page.html",
        "--acl",
        "public-read",
    )
    aws(cluster, "s3", "cp", str(tmp_path / "page.html"), f"s3://{bucket}/site/private.html")

    acl = s3api(cluster, "get-object-acl", "--bucket", bucket, "--key", "site/page.html")
    assert {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"} in acl["Grants"]
    reply = anonymous_get(cluster, bucket, "site/page.html")
    assert (reply.status, reply.data) == (200, b"<h1>public</h1>")
    assert anonymous_get(cluster, bucket, "site/private.html").status == 403

    aws(cluster, "s3api", "put-object-acl", "--bucket", bucket, "--key", "site/page.html", "--acl", "private")
    assert anonymous_get(cluster, bucket, "site/page.html").status == 403


def test_private_acls_keep_working_on_a_default_bucket(cluster: RunningCluster, tmp_path: Path) -> None:
    bucket = bucket_name("e2e-acl")
    s3api(cluster, "create-bucket", "--bucket", bucket, "--acl", "private")
    (tmp_path / "f").write_bytes(b"x")
    for acl in ("private", "bucket-owner-full-control"):
        aws(cluster, "s3", "cp", str(tmp_path / "f"), f"s3://{bucket}/{acl}", "--acl", acl)
    refused = aws(
        cluster, "s3", "cp", str(tmp_path / "f"), f"s3://{bucket}/p", "--acl", "public-read", check=False
    )
    assert refused.returncode != 0 and "AccessControlListNotSupported" in refused.stderr
    controls = s3api(cluster, "get-bucket-ownership-controls", "--bucket", bucket)
    assert controls["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
