"""The credential lookup asks the metadata service for derived keys, never for a secret."""

from __future__ import annotations

from cairn.api_service.auth import CredentialCache
from cairn.metadata.errors import NoSuchAccessKey, NoSuchUser
from cairn.metadata.models import AccessKey, AccessKeyStatus, User
from cairn.signing import signing_key, sigv2_signature

SECRET = "kept-by-the-metadata-service"


class _Keys:
    """The metadata service's key RPCs, counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.status = AccessKeyStatus.ACTIVE

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        self.calls.append("GetAccessKey")
        if access_key_id != "AK":
            raise NoSuchAccessKey(access_key_id)
        return AccessKey("AK", "", "AIDABOB", "bob", self.status, 0)

    async def get_user(self, name: str) -> User:
        self.calls.append("GetUser")
        return User("AIDABOB", name, "arn:aws:iam::000000000000:user/bob", 0)

    async def signing_key(self, access_key_id: str, date: str, region: str, service: str) -> bytes:
        self.calls.append(f"GetSigningKey {date} {region}")
        return signing_key(SECRET, date, region, service)

    async def sigv2_matches(self, access_key_id: str, string_to_sign: bytes, signature: str) -> bool:
        self.calls.append("VerifySigV2")
        return sigv2_signature(SECRET, string_to_sign).decode() == signature


async def test_derived_keys_are_fetched_once_per_scope_and_v2_is_asked() -> None:
    keys = _Keys()
    lookup = CredentialCache(keys, (NoSuchAccessKey, NoSuchUser), ttl_s=60)
    creds = await lookup("AK")
    assert creds is not None and (creds.owner_id, creds.user_name) == ("AIDABOB", "bob")
    assert await creds.signer.sigv4_key("20260102", "us-east-1", "s3") == signing_key(
        SECRET, "20260102", "us-east-1", "s3"
    )
    await creds.signer.sigv4_key("20260102", "us-east-1", "s3")
    await (await lookup("AK")).signer.sigv4_key("20260103", "us-east-1", "s3")  # type: ignore[union-attr]
    assert await creds.signer.sigv2_matches(b"GET\n", sigv2_signature(SECRET, b"GET\n").decode())
    assert not await creds.signer.sigv2_matches(b"GET\n", sigv2_signature("guess", b"GET\n").decode())
    assert keys.calls == [
        "GetAccessKey",
        "GetUser",
        "GetSigningKey 20260102 us-east-1",
        "GetSigningKey 20260103 us-east-1",
        "VerifySigV2",
        "VerifySigV2",
    ]


async def test_unknown_and_inactive_keys_have_no_credentials() -> None:
    keys = _Keys()
    assert await CredentialCache(keys, (NoSuchAccessKey, NoSuchUser))("NOPE") is None
    keys.status = AccessKeyStatus.INACTIVE
    assert await CredentialCache(keys, (NoSuchAccessKey, NoSuchUser))("AK") is None
    assert "GetSigningKey" not in " ".join(keys.calls)
