"""Who is calling: `CredentialCache`, the SigV4 secret lookup.

Access key id -> (secret, user id, is root, user name, ARN) from the metadata service, cached
for a short TTL (a revoked or deactivated key stops working within the TTL), with unknown keys
cached too so a flood of bad keys does not reach the metadata service. What the caller may do is
access.py's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cairn.metadata.models import AccessKey, AccessKeyStatus, User

from .sigv4 import Credentials


@dataclass(frozen=True, slots=True)
class _Entry:
    credentials: Credentials | None
    expires: float


class CredentialCache:
    """An async `SecretLookup` over the metadata service, cached for `ttl_s` seconds."""

    def __init__(
        self,
        get_access_key: Callable[[str], Awaitable[AccessKey]],
        get_user: Callable[[str], Awaitable[User]],
        not_found: tuple[type[Exception], ...],
        ttl_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._get_access_key = get_access_key
        self._get_user = get_user
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
            key = await self._get_access_key(access_key_id)
            if key.status != AccessKeyStatus.ACTIVE:
                return None
            user = await self._get_user(key.user_name)
        except self._not_found:
            return None
        return Credentials(key.secret_access_key, user.user_id, user.is_root, user.name, user.arn)
