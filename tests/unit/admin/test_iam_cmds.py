"""`cairn admin user|key ...` against an in-memory fake of the metadata client."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cairn.admin import iam_cmds
from cairn.cli import main
from cairn.metadata.client import (
    AccessKey,
    AccessKeyAlreadyExists,
    AccessKeyStatus,
    Bucket,
    DeleteConflict,
    MetadataUnavailable,
    NoSuchAccessKey,
    NoSuchUser,
    User,
    UserAlreadyExists,
    VersioningState,
)
from tests.support.procs import free_port

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


class FakeMetadata:
    """The IAM part of the metadata service, with the same typed errors."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {
            "root": User("AIDAROOT", "root", "arn:aws:iam::000000000000:root", T0, True)
        }
        self.keys: dict[str, AccessKey] = {}
        self.policies: dict[str, list[str]] = {}
        self.buckets: list[Bucket] = []
        self.closed = 0
        self.connected: list[tuple[str, float]] = []
        self.serial = 0

    def connect(self, addr: str, deadline_s: float) -> FakeMetadata:
        self.connected.append((addr, deadline_s))
        return self

    async def close(self) -> None:
        self.closed += 1

    async def create_user(self, name: str) -> User:
        if name in self.users:
            raise UserAlreadyExists(f"user {name!r} exists")
        self.serial += 1
        user = User(
            f"AIDA{self.serial:016d}", name, f"arn:aws:iam::000000000000:user/{name}", T0 + self.serial
        )
        self.users[name] = user
        return user

    async def get_user(self, name: str) -> User:
        if name not in self.users:
            raise NoSuchUser(f"no user {name!r}")
        return self.users[name]

    async def list_users(self) -> tuple[User, ...]:
        return tuple(self.users.values())

    async def delete_user(self, name: str) -> None:
        user = await self.get_user(name)
        if any(k.user_id == user.user_id for k in self.keys.values()):
            raise DeleteConflict(f"user {name!r} still has access keys")
        if self.policies.get(name):
            raise DeleteConflict(f"user {name!r} still has user policies")
        del self.users[name]

    async def create_access_key(self, user_name: str) -> AccessKey:
        user = await self.get_user(user_name)
        self.serial += 1
        key_id = f"AKIA{self.serial:016d}"
        if key_id in self.keys:
            raise AccessKeyAlreadyExists(key_id)
        key = AccessKey(
            key_id,
            f"secret{self.serial:034d}",
            user.user_id,
            user.name,
            AccessKeyStatus.ACTIVE,
            T0 + self.serial,
        )
        self.keys[key_id] = key
        return key

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        if access_key_id not in self.keys:
            raise NoSuchAccessKey(f"no access key {access_key_id!r}")
        return self.keys[access_key_id]

    async def list_access_keys(self, user_name: str) -> tuple[AccessKey, ...]:
        await self.get_user(user_name)
        return tuple(k for k in self.keys.values() if k.user_name == user_name)

    async def set_access_key_status(self, access_key_id: str, status: AccessKeyStatus) -> AccessKey:
        old = await self.get_access_key(access_key_id)
        self.keys[access_key_id] = AccessKey(
            old.access_key_id, old.secret_access_key, old.user_id, old.user_name, status, old.created_ms
        )
        return self.keys[access_key_id]

    async def delete_access_key(self, access_key_id: str) -> None:
        await self.get_access_key(access_key_id)
        del self.keys[access_key_id]

    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]:
        return tuple(b for b in self.buckets if owner_id is None or b.owner_id == owner_id)


class Unreachable(FakeMetadata):
    async def list_users(self) -> tuple[User, ...]:
        raise MetadataUnavailable("metadata service call failed: StatusCode.UNAVAILABLE\nfailed to connect")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMetadata:
    meta = FakeMetadata()
    monkeypatch.setattr(iam_cmds, "connect", meta.connect)
    return meta


def admin(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["admin", *argv])
    out, err = capsys.readouterr()
    return code, out, err


M = ("--metadata", "127.0.0.1:7300")


def bucket(name: str, owner: User) -> Bucket:
    return Bucket(
        name=name,
        id=f"id-{name}",
        owner_id=owner.user_id,
        region="us-east-1",
        created_ms=T0,
        versioning=VersioningState.UNVERSIONED,
    )


def test_user_create_prints_the_user_and_a_duplicate_is_refused(
    fake: FakeMetadata, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = admin(capsys, "user", "create", "alice", *M)
    assert (code, err) == (0, "")
    assert out.startswith("created user alice (AIDA0000000000000001, arn:aws:iam::000000000000:user/alice)")
    code, out, err = admin(capsys, "user", "create", "bob", "--json", *M)
    assert code == 0 and json.loads(out) == {
        "name": "bob",
        "user_id": "AIDA0000000000000002",
        "arn": "arn:aws:iam::000000000000:user/bob",
        "is_root": False,
        "created_ms": T0 + 2,
        "created": "2023-11-14T22:13:20Z",
    }
    code, out, err = admin(capsys, "user", "create", "alice", *M)
    assert code == 1 and out == ""
    assert err == "cairn admin: UserAlreadyExists: user 'alice' exists\n"
    assert fake.connected[0] == ("127.0.0.1:7300", 10.0) and fake.closed == 3


def test_user_list_is_a_sorted_table_or_json(fake: FakeMetadata, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("zoe", "alice"):
        admin(capsys, "user", "create", name, *M)
    code, out, _ = admin(capsys, "user", "list", *M)
    lines = out.splitlines()
    assert code == 0 and re.match(r"NAME\s+USER ID\s+CREATED\s+ARN$", lines[0])
    assert [line.split()[0] for line in lines[1:]] == ["alice", "root", "zoe"]
    assert lines[1].split() == [
        "alice",
        "AIDA0000000000000002",
        "2023-11-14T22:13:20Z",
        "arn:aws:iam::000000000000:user/alice",
    ]
    assert len({line.index("AIDA") for line in lines[1:]}) == 1  # aligned columns
    code, out, _ = admin(capsys, "user", "list", "--json", *M)
    users = json.loads(out)["users"]
    assert [(u["name"], u["is_root"]) for u in users] == [("alice", False), ("root", True), ("zoe", False)]


def test_user_delete_refuses_while_buckets_keys_or_policies_remain(
    fake: FakeMetadata, capsys: pytest.CaptureFixture[str]
) -> None:
    admin(capsys, "user", "create", "alice", *M)
    alice = fake.users["alice"]
    fake.buckets = [bucket(f"b{i}", alice) for i in range(7)] + [bucket("other", fake.users["root"])]
    code, out, err = admin(capsys, "user", "delete", "alice", *M)
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert "DeleteConflict: user alice still owns 7 bucket(s): b0, b1, b2, b3, b4, ... (2 more)" in err
    assert "other" not in err and "alice" in fake.users

    fake.buckets = []
    key = fake.keys["AKIA0000000000000002"] = AccessKey(
        "AKIA0000000000000002", "s", alice.user_id, "alice", AccessKeyStatus.INACTIVE, T0
    )
    code, _, err = admin(capsys, "user", "delete", "alice", *M)
    assert code == 1 and len(err.splitlines()) == 1
    assert f"still has 1 access key(s): {key.access_key_id}; remove each with `cairn admin key delete" in err

    del fake.keys[key.access_key_id]
    fake.policies["alice"] = ["readonly"]
    code, _, err = admin(capsys, "user", "delete", "alice", *M)
    assert code == 1 and err == "cairn admin: DeleteConflict: user 'alice' still has user policies\n"

    fake.policies.clear()
    code, out, _ = admin(capsys, "user", "delete", "alice", "--json", *M)
    assert code == 0 and json.loads(out) == {"name": "alice", "user_id": alice.user_id, "deleted": True}
    assert "alice" not in fake.users
    code, _, err = admin(capsys, "user", "delete", "alice", *M)
    assert code == 1 and err == "cairn admin: NoSuchUser: no user 'alice'\n"


def test_root_cannot_be_deleted(fake: FakeMetadata, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = admin(capsys, "user", "delete", "root", *M)
    assert code == 1 and "root user" in err and "root" in fake.users


def test_key_create_shows_the_secret_once_and_list_never_does(
    fake: FakeMetadata, capsys: pytest.CaptureFixture[str]
) -> None:
    admin(capsys, "user", "create", "alice", *M)
    code, out, _ = admin(capsys, "key", "create", "alice", *M)
    key = fake.keys["AKIA0000000000000002"]
    assert code == 0
    assert (
        f"AccessKeyId:     {key.access_key_id}\n" in out
        and f"SecretAccessKey: {key.secret_access_key}\n" in out
    )
    code, out, _ = admin(capsys, "key", "create", "root", "--json", *M)
    doc = json.loads(out)
    root_key = fake.keys[doc["access_key_id"]]
    assert doc["secret_access_key"] == root_key.secret_access_key and doc["status"] == "Active"

    listings = [
        admin(capsys, "key", "list", *M),
        admin(capsys, "key", "list", "--json", *M),
        admin(capsys, "key", "list", "alice", *M),
        admin(capsys, "key", "list", "alice", "--json", *M),
    ]
    for code, out, _ in listings:
        assert code == 0 and "secret" not in out.lower()
        assert key.secret_access_key not in out and root_key.secret_access_key not in out
    all_table, all_json, alice_table, alice_json = (out for _, out, _ in listings)
    assert re.match(r"ACCESS KEY ID\s+USER\s+STATUS\s+CREATED\n", all_table)
    assert [line.split()[:3] for line in all_table.splitlines()[1:]] == [
        [key.access_key_id, "alice", "Active"],
        [root_key.access_key_id, "root", "Active"],
    ]
    assert [k["user_name"] for k in json.loads(all_json)["access_keys"]] == ["alice", "root"]
    assert len(alice_table.splitlines()) == 2 and key.access_key_id in alice_table
    assert [k["access_key_id"] for k in json.loads(alice_json)["access_keys"]] == [key.access_key_id]

    code, _, err = admin(capsys, "key", "create", "nobody", *M)
    assert code == 1 and err == "cairn admin: NoSuchUser: no user 'nobody'\n"
    code, _, err = admin(capsys, "key", "list", "nobody", *M)
    assert code == 1 and "NoSuchUser" in err


def test_key_revoke_marks_inactive_and_delete_removes(
    fake: FakeMetadata, capsys: pytest.CaptureFixture[str]
) -> None:
    admin(capsys, "user", "create", "alice", *M)
    admin(capsys, "key", "create", "alice", *M)
    key_id = "AKIA0000000000000002"
    code, out, _ = admin(capsys, "key", "revoke", key_id, *M)
    assert code == 0 and fake.keys[key_id].status == AccessKeyStatus.INACTIVE
    assert out.startswith(
        f"access key {key_id} of alice: Inactive; S3 requests signed with it fail with "
        "InvalidAccessKeyId once"
    )
    code, out, _ = admin(capsys, "key", "revoke", key_id, "--json", *M)  # idempotent
    assert (
        code == 0 and json.loads(out)["status"] == "Inactive" and "secret_access_key" not in json.loads(out)
    )
    code, out, _ = admin(capsys, "key", "list", "alice", *M)
    assert out.splitlines()[1].split()[:3] == [key_id, "alice", "Inactive"]
    code, _, err = admin(capsys, "key", "revoke", "AKIANOPE", *M)
    assert code == 1 and err == "cairn admin: NoSuchAccessKey: no access key 'AKIANOPE'\n"

    code, out, _ = admin(capsys, "key", "delete", key_id, *M)
    assert code == 0 and out == f"deleted access key {key_id} of alice\n" and key_id not in fake.keys
    code, _, _ = admin(capsys, "key", "delete", key_id, *M)
    assert code == 1


def _root_key(fake: FakeMetadata, key_id: str = "ROOTKEY1") -> str:
    root = fake.users["root"]
    key = AccessKey(key_id, "root-secret", root.user_id, "root", AccessKeyStatus.ACTIVE, T0)
    fake.keys[key.access_key_id] = key
    return key.access_key_id


def test_revoking_the_last_active_root_key_needs_force_and_activate_restores_it(
    fake: FakeMetadata, capsys: pytest.CaptureFixture[str]
) -> None:
    root_key = _root_key(fake)
    for action in ("revoke", "delete"):
        code, out, err = admin(capsys, "key", action, root_key, *M)
        assert (code, out) == (1, "") and len(err.splitlines()) == 1
        assert f"{root_key} is the last active access key of the root user root" in err
        assert f"Pass --force to {action} it anyway" in err
        assert fake.keys[root_key].status == AccessKeyStatus.ACTIVE

    code, out, err = admin(capsys, "key", "revoke", root_key, "--force", *M)
    assert code == 0 and err == "" and fake.keys[root_key].status == AccessKeyStatus.INACTIVE
    code, out, err = admin(capsys, "key", "activate", root_key, *M)
    assert code == 0 and err == "" and fake.keys[root_key].status == AccessKeyStatus.ACTIVE
    assert out.startswith(
        f"access key {root_key} of root: Active; S3 requests signed with it are accepted again"
    )
    code, out, _ = admin(capsys, "key", "activate", root_key, "--json", *M)  # idempotent
    assert code == 0 and json.loads(out)["status"] == "Active"
    code, _, err = admin(capsys, "key", "activate", "AKIANOPE", *M)
    assert code == 1 and err == "cairn admin: NoSuchAccessKey: no access key 'AKIANOPE'\n"

    # with a second active root key, either one may go without --force
    second = _root_key(fake, "ROOTKEY2")
    code, _, _ = admin(capsys, "key", "revoke", root_key, *M)
    assert code == 0 and fake.keys[root_key].status == AccessKeyStatus.INACTIVE
    code, _, err = admin(capsys, "key", "delete", second, *M)  # now the last active one again
    assert code == 1 and "--force" in err and second in fake.keys
    code, _, _ = admin(capsys, "key", "delete", second, "--force", *M)
    assert code == 0 and second not in fake.keys


def test_keys_of_other_users_need_no_force(fake: FakeMetadata, capsys: pytest.CaptureFixture[str]) -> None:
    admin(capsys, "user", "create", "alice", *M)
    admin(capsys, "key", "create", "alice", *M)
    code, _, err = admin(capsys, "key", "revoke", "AKIA0000000000000002", *M)
    assert code == 0 and err == ""


def test_metadata_found_through_cluster_json(
    fake: FakeMetadata, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = {
        "credentials_file": str(tmp_path / "credentials.json"),
        "processes": [
            {"role": "placement", "id": "p1", "pid": 1, "addr": "127.0.0.1:7001", "data_dir": "p"},
            {"role": "metadata", "id": "metadata", "pid": 2, "addr": "127.0.0.1:7300", "data_dir": "m"},
        ],
    }
    (tmp_path / "cluster.json").write_text(json.dumps(doc))
    monkeypatch.setenv("CAIRN_DATA_DIR", str(tmp_path))
    code, _, _ = admin(capsys, "user", "list", "--timeout", "3")
    assert code == 0 and fake.connected == [("127.0.0.1:7300", 3.0)]
    monkeypatch.delenv("CAIRN_DATA_DIR")
    code, _, _ = admin(capsys, "user", "list", "--data-dir", str(tmp_path))
    assert code == 0 and fake.connected[-1][0] == "127.0.0.1:7300"


@pytest.mark.parametrize(
    "argv, message",
    [
        (("--data-dir", "{empty}"), "cluster.json does not exist (pass --metadata host:port or --data-dir)"),
        (("--data-dir", "{no_metadata}"), "lists no metadata process (pass --metadata host:port)"),
        (("--metadata", "localhost"), "--metadata needs host:port[,host:port...], got 'localhost'"),
    ],
)
def test_no_metadata_service_found_exits_2_with_one_line(
    fake: FakeMetadata,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: tuple[str, ...],
    message: str,
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "no_metadata").mkdir()
    (tmp_path / "no_metadata" / "cluster.json").write_text(
        json.dumps(
            {
                "processes": [
                    {"role": "placement", "id": "p1", "pid": 1, "addr": "127.0.0.1:7001", "data_dir": "p"}
                ]
            }
        )
    )
    argv = tuple(a.format(empty=tmp_path / "empty", no_metadata=tmp_path / "no_metadata") for a in argv)
    code, out, err = admin(capsys, "user", "list", *argv)
    assert code == 2 and out == "" and message in err and len(err.splitlines()) == 1
    assert fake.connected == []


def test_unreachable_service_exits_3_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Unreachable()
    monkeypatch.setattr(iam_cmds, "connect", fake.connect)
    code, out, err = admin(capsys, "key", "list", *M)
    assert code == 3 and out == "" and fake.closed == 1
    assert err == (
        "cairn admin: metadata service unreachable at 127.0.0.1:7300: metadata service call failed: "
        "StatusCode.UNAVAILABLE failed to connect\n"
    )


def test_unreachable_real_client_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"127.0.0.1:{free_port()}"
    for argv in (("user", "list"), ("user", "create", "x"), ("key", "revoke", "AKIAX")):
        code, out, err = admin(capsys, *argv, "--metadata", dead, "--timeout", "2")
        assert code == 3 and out == "" and len(err.splitlines()) == 1
        assert err.startswith(f"cairn admin: metadata service unreachable at {dead}: "), err


def test_missing_arguments_are_usage_errors(fake: FakeMetadata, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (("user", "create"), ("key", "revoke"), ("user",)):
        with pytest.raises(SystemExit) as exc:
            main(["admin", *argv, *M])
        assert exc.value.code == 2
    assert fake.connected == []
