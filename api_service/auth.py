"""Who is calling: `CredentialCache`, the credential lookup of signature verification.

Access key id -> (user id, is root, user name, ARN, and a `Signer`) from the metadata service,
cached for a short TTL (a revoked or deactivated key stops working within the TTL), with unknown
keys cached too so a flood of bad keys does not reach the metadata service. The S3 API never
holds a secret: its `MetadataSigner` asks the metadata service for SigV4's derived key of the
request's date, region and service (kept with the cached entry) and asks it to compare a V2
presigned signature. What the caller may do is access.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cairn.metadata.models import AccessKey, AccessKeyStatus, User

from .errors import InvalidAccessKeyId
from .sigv4 import Credentials

#: Derived keys a cached entry keeps (a request's date, region and service; clocks near midnight
#: and a few regions).
_SCOPES_KEPT = 8


class KeyService(Protocol):
    """What the lookup asks the metadata service (its client, or the service in-process)."""

    async def get_access_key(self, access_key_id: str) -> AccessKey: ...

    async def get_user(self, name: str) -> User: ...

    async def signing_key(self, access_key_id: str, date: str, region: str, service: str) -> bytes: ...

    async def sigv2_matches(self, access_key_id: str, string_to_sign: bytes, signature: str) -> bool: ...


class MetadataSigner:
    """A `cairn.signing.Signer` for one access key whose secret stays in the metadata service."""

    def __init__(self, keys: KeyService, access_key_id: str, not_found: tuple[type[Exception], ...]) -> None:
        self._keys = keys
        self._access_key_id = access_key_id
        self._not_found = not_found
        self._derived: dict[tuple[str, str, str], bytes] = {}

    async def sigv4_key(self, date: str, region: str, service: str) -> bytes:
        scope = (date, region, service)
        key = self._derived.get(scope)
        if key is None:
            try:
                key = await self._keys.signing_key(self._access_key_id, date, region, service)
            except self._not_found:  # deleted since it was looked up
                raise InvalidAccessKeyId(AWSAccessKeyId=self._access_key_id) from None
            if len(self._derived) >= _SCOPES_KEPT:
                self._derived.clear()
            self._derived[scope] = key
        return key

    async def sigv2_matches(self, string_to_sign: bytes, signature: str) -> bool:
        try:
            return await self._keys.sigv2_matches(self._access_key_id, string_to_sign, signature)
        except self._not_found:
            raise InvalidAccessKeyId(AWSAccessKeyId=self._access_key_id) from None


@dataclass(frozen=True, slots=True)
class _Entry:
    credentials: Credentials | None
    expires: float


class CredentialCache:
    """An async `SecretLookup` over the metadata service, cached for `ttl_s` seconds."""

    def __init__(
        self,
        keys: KeyService,
        not_found: tuple[type[Exception], ...],
        ttl_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._keys = keys
        self._not_found = not_found
        self._ttl = ttl_s
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, _Entry] = {}

    async def __call__(self, access_key_id: str) -> Credentials | None:
        now = self._clock()
        entry = self._entries.get(access_key_id)
        if entry is not None and entry.expires > now:
            return entry.credentials
        credentials = await self._fetch(access_key_id)
        if len(self._entries) >= self._max:
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            if len(self._entries) >= self._max:
                self._entries.clear()
        self._entries[access_key_id] = _Entry(credentials, now + self._ttl)
        return credentials

    async def _fetch(self, access_key_id: str) -> Credentials | None:
        try:
            key = await self._keys.get_access_key(access_key_id)
            if key.status != AccessKeyStatus.ACTIVE:
                return None
            user = await self._keys.get_user(key.user_name)
        except self._not_found:
            return None
        signer = MetadataSigner(self._keys, access_key_id, self._not_found)
        return Credentials(signer, user.user_id, user.is_root, user.name, user.arn)
