"""`cairn admin user policy ...` as subprocesses against a real metadata service, enforced by a real
S3 API process on the user's next request."""

from __future__ import annotations

import json
from pathlib import Path

from .test_admin_iam import ROOT_KEY, ROOT_SECRET, admin, metadata, s3_api  # noqa: F401 - fixtures
from .test_admin_iam import s3_client as client
from .test_e2e_policies import code


def test_user_policies_through_the_cli_govern_s3_requests(
    metadata: str,  # noqa: F811
    s3_api: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    root = client(s3_api, ROOT_KEY, ROOT_SECRET)
    root.create_bucket(Bucket="team")
    assert admin("user", "create", "carol", addr=metadata)[0] == 0
    key = json.loads(admin("key", "create", "carol", "--json", addr=metadata)[1])
    carol = client(s3_api, key["access_key_id"], key["secret_access_key"])
    assert code(lambda: carol.list_objects_v2(Bucket="team")) == "AccessDenied"
    assert code(lambda: carol.create_bucket(Bucket="carols")) == "OK"

    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::team"},
            {"Effect": "Deny", "Action": "s3:CreateBucket", "Resource": "*"},
        ],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    code_, out, err = admin("user", "policy", "put", "carol", "team-read", str(path), addr=metadata)
    assert (code_, err) == (0, "") and "attached policy team-read to user carol" in out
    assert code(lambda: carol.list_objects_v2(Bucket="team")) == "OK"  # the next request
    assert code(lambda: carol.create_bucket(Bucket="carols-2")) == "AccessDenied"
    assert code(lambda: carol.delete_bucket(Bucket="team")) == "AccessDenied"

    code_, out, err = admin("user", "policy", "get", "carol", "team-read", addr=metadata)
    assert code_ == 0 and json.loads(out) == document
    code_, out, err = admin("user", "policy", "list", "carol", "--json", addr=metadata)
    listed = json.loads(out)["policies"]
    assert [(p["name"], p["document"]) for p in listed] == [("team-read", document)]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:Nope", "Resource": "*"}]}))
    code_, out, err = admin("user", "policy", "put", "carol", "broken", str(bad), addr=metadata)
    assert (code_, out) == (1, "") and "MalformedPolicyDocument: Policy has invalid action" in err
    assert admin("user", "policy", "get", "carol", "broken", addr=metadata)[0] == 1

    code_, out, err = admin("user", "delete", "carol", addr=metadata)
    assert code_ == 1  # still owns a bucket
    code_, out, err = admin("user", "policy", "delete", "carol", "team-read", addr=metadata)
    assert code_ == 0 and "detached policy team-read from user carol" in out
    assert code(lambda: carol.list_objects_v2(Bucket="team")) == "AccessDenied"
    assert code(lambda: carol.create_bucket(Bucket="carols-3")) == "OK"
