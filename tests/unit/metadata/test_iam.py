"""IAM records: users, access keys, inline policies, the root user."""

from __future__ import annotations

import pytest

from cairn.metadata.errors import (
    AccessKeyAlreadyExists,
    DeleteConflict,
    NoSuchAccessKey,
    NoSuchPolicy,
    NoSuchUser,
    UserAlreadyExists,
)
from cairn.metadata.models import AccessKeyStatus
from cairn.metadata.service import MetadataService


async def test_users_keys_and_policies(svc: MetadataService) -> None:
    alice = await svc.create_user("alice")
    assert alice.arn == "arn:aws:iam::000000000000:user/alice" and alice.user_id.startswith("AIDA")
    with pytest.raises(UserAlreadyExists):
        await svc.create_user("alice")
    key = await svc.create_access_key("alice")
    assert key.access_key_id.startswith("AKIA") and len(key.secret_access_key) == 40
    assert key.status is AccessKeyStatus.ACTIVE and key.user_name == "alice" and key.user_id == alice.user_id
    assert await svc.get_access_key(key.access_key_id) == key
    fixed = await svc.create_access_key("alice", access_key_id="AKIAFIXED", secret_access_key="s3cret")
    with pytest.raises(AccessKeyAlreadyExists):
        await svc.create_access_key("alice", access_key_id="AKIAFIXED")
    listed = [k.access_key_id for k in await svc.list_access_keys("alice")]
    assert listed == sorted([key.access_key_id, fixed.access_key_id])  # same millisecond: by id
    off = await svc.set_access_key_status("AKIAFIXED", AccessKeyStatus.INACTIVE)
    assert off.status is AccessKeyStatus.INACTIVE
    doc = '{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
    await svc.put_user_policy("alice", "all", doc)
    assert (await svc.get_user_policy("alice", "all")).document == doc
    assert [p.name for p in await svc.list_user_policies("alice")] == ["all"]
    with pytest.raises(DeleteConflict):
        await svc.delete_user("alice")
    await svc.delete_user_policy("alice", "all")
    with pytest.raises(NoSuchPolicy):
        await svc.get_user_policy("alice", "all")
    await svc.delete_access_key(key.access_key_id)
    await svc.delete_access_key("AKIAFIXED")
    with pytest.raises(NoSuchAccessKey):
        await svc.get_access_key("AKIAFIXED")
    await svc.delete_user("alice")
    with pytest.raises(NoSuchUser):
        await svc.get_user("alice")
    with pytest.raises(NoSuchUser):
        await svc.create_access_key("alice")


async def test_root_is_ensured_idempotently(svc: MetadataService) -> None:
    first = await svc.ensure_root("ROOTKEY", "rootsecret")
    again = await svc.ensure_root("ROOTKEY", "newsecret")
    assert again.user_id == first.user_id and again.secret_access_key == "newsecret"
    root = await svc.get_user("root")
    assert root.is_root and root.arn.endswith(":root")
    assert [u.name for u in await svc.list_users()] == ["root"]
