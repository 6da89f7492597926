"""IAM records: users, access keys and inline user policies, kept in the catalog shard.

Only storage: policies are returned verbatim and evaluated by the API service. User ids look
like AWS's (`AIDA` + 16 characters), access key ids like `AKIA` + 16, secrets are 40
characters; all random, chosen before the command is applied. The root user (`root`, ARN
`arn:aws:iam::<account>:root`) is ensured at startup when a root key pair is configured.
"""

from __future__ import annotations

import re
import secrets
import string

from cairn import signing
from cairn.metadata import catalog
from cairn.metadata import commands as c
from cairn.metadata.core import ServiceCore
from cairn.metadata.errors import InvalidArgument, NoSuchPolicy
from cairn.metadata.models import AccessKey, AccessKeyStatus, Policy, User

ROOT_USER = "root"
_ID_CHARS = string.ascii_uppercase + "234567"
_SECRET_CHARS = string.ascii_letters + string.digits + "+/"
_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_ACCESS_KEY_ID = re.compile(r"^[\w]{3,128}$")
_SCOPE_DATE = re.compile(r"^\d{8}$")


def _random(prefix: str, n: int, alphabet: str = _ID_CHARS) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def _check_user_name(name: str) -> None:
    if not _USER_NAME.match(name):
        raise InvalidArgument("user names are 1-64 characters of letters, digits and +=,.@_-")


class IamOps(ServiceCore):
    async def ensure_root(self, access_key_id: str, secret_access_key: str) -> AccessKey:
        await self.leading()
        cmd = c.EnsureRoot(
            _random("AIDA", 16),
            ROOT_USER,
            f"arn:aws:iam::{self.account_id}:root",
            access_key_id,
            secret_access_key,
            self.now_ms(),
        )
        key: AccessKey = await self.write_catalog(cmd)
        return key

    async def create_user(self, name: str) -> User:
        await self.leading()
        _check_user_name(name)
        arn = f"arn:aws:iam::{self.account_id}:user/{name}"
        user: User = await self.write_catalog(
            c.CreateUser(_random("AIDA", 16), name, arn, False, self.now_ms())
        )
        return user

    async def get_user(self, name: str) -> User:
        await self.linearize()
        return await self.store.catalog.read(catalog.read_user, name)

    async def list_users(self) -> tuple[User, ...]:
        await self.linearize()
        return tuple(await self.store.catalog.read(catalog.read_users))

    async def delete_user(self, name: str) -> None:
        await self.leading()
        await self.write_catalog(c.DeleteUser(name))

    async def create_access_key(
        self, user_name: str, *, access_key_id: str | None = None, secret_access_key: str | None = None
    ) -> AccessKey:
        await self.leading()
        key_id = access_key_id or _random("AKIA", 16)
        if not _ACCESS_KEY_ID.match(key_id):
            raise InvalidArgument("access key ids are 3-128 letters, digits or underscores")
        secret = secret_access_key or _random("", 40, _SECRET_CHARS)
        key: AccessKey = await self.write_catalog(c.CreateAccessKey(user_name, key_id, secret, self.now_ms()))
        return key

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        await self.linearize()
        return await self.store.catalog.read(catalog.read_access_key, access_key_id)

    async def list_access_keys(self, user_name: str) -> tuple[AccessKey, ...]:
        await self.linearize()
        return tuple(await self.store.catalog.read(catalog.read_access_keys, user_name))

    async def set_access_key_status(self, access_key_id: str, status: AccessKeyStatus) -> AccessKey:
        await self.leading()
        key: AccessKey = await self.write_catalog(c.SetAccessKeyStatus(access_key_id, status))
        return key

    async def delete_access_key(self, access_key_id: str) -> None:
        await self.leading()
        await self.write_catalog(c.DeleteAccessKey(access_key_id))

    async def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None:
        await self.leading()
        if not policy_name:
            raise InvalidArgument("a policy needs a name")
        await self.write_catalog(c.PutUserPolicy(user_name, policy_name, document, self.now_ms()))

    async def get_user_policy(self, user_name: str, policy_name: str) -> Policy:
        await self.linearize()
        for policy in await self.store.catalog.read(catalog.read_user_policies, user_name):
            if policy.name == policy_name:
                return policy
        raise NoSuchPolicy(f"user {user_name!r} has no policy {policy_name!r}")

    async def list_user_policies(self, user_name: str) -> tuple[Policy, ...]:
        await self.linearize()
        return tuple(await self.store.catalog.read(catalog.read_user_policies, user_name))

    async def delete_user_policy(self, user_name: str, policy_name: str) -> None:
        await self.leading()
        await self.write_catalog(c.PutUserPolicy(user_name, policy_name, None, self.now_ms()))

    async def signing_key(self, access_key_id: str, date: str, region: str, service: str) -> bytes:
        """SigV4's derived key of the access key for one date (YYYYMMDD), region and service,
        so the S3 API verifies signatures without the secret. NoSuchAccessKey, InvalidArgument."""
        if not _SCOPE_DATE.match(date) or not region or not service:
            raise InvalidArgument("a signing key is for a date (YYYYMMDD), a region and a service")
        key = await self.get_access_key(access_key_id)
        return signing.signing_key(key.secret_access_key, date, region, service)

    async def sigv2_matches(self, access_key_id: str, string_to_sign: bytes, signature: str) -> bool:
        """Whether `signature` is the V2 signature of `string_to_sign` with the key's secret.
        NoSuchAccessKey."""
        key = await self.get_access_key(access_key_id)
        return signing.sigv2_matches(key.secret_access_key, string_to_sign, signature)
