"""The built-in KMS: keys kept by the metadata service, and the two operations the S3 API uses.

A KMS key is 256 random bits, sealed under the cluster master keyring (cairn.sse_crypto.Keyring,
MetadataConfig.master_keyring or $CAIRN_MASTER_KEYRING) before it is proposed, so the Raft log,
snapshots and shard files hold only sealed material; creating, disabling and enabling a key are
catalog commands replicated like every other mutation (kms_store.py applies them).

The S3 API never sees a KMS key, only data keys, one request at a time:
- `generate_data_key(key, context)`: a fresh 256-bit data key, in the clear and sealed under the
  KMS key (AES-256-GCM, the sse_crypto seal format naming the KMS key id) with `context` as
  associated data (the API binds the blob's identity and the object's encryption context);
- `decrypt(ciphertext, context)`: the data key of such a ciphertext.
Both refuse a disabled key (KmsKeyDisabled) or an unknown one (NoSuchKmsKey). This pair is the
seam for an external KMS (e.g. HashiCorp Vault transit: generate a data key, decrypt it): a
replacement implements these two calls and the key administration.

Keys are named by id (a UUID), key ARN, `alias/NAME` or alias ARN. With no key named, the
default key is the alias `aws/s3`, created on first use as AWS creates its managed key.
"""

from __future__ import annotations

import re
import uuid

from cairn import sse_crypto
from cairn.metadata import commands as c
from cairn.metadata import kms_reseal, kms_store
from cairn.metadata.core import ServiceCore
from cairn.metadata.errors import (
    InvalidArgument,
    KmsInvalidCiphertext,
    KmsKeyDisabled,
    KmsNotConfigured,
    NoSuchKmsKey,
)
from cairn.metadata.models import KmsKey, ResealPage
from cairn.sse_crypto import Identity, MasterKeys

DEFAULT_ALIAS = "aws/s3"
_ALIAS = re.compile(r"^[a-zA-Z0-9/_-]{1,250}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ARN = re.compile(r"^arn:aws:kms:[^:]*:[^:]*:(key|alias)/(.+)$")


#: ResealMasterKeys's target naming the KMS keys (the catalog); 0..shards-1 name object shards.
KMS_KEYS = -1


def material_context(key_id: str) -> bytes:
    """What a KMS key's material is bound to when sealed under a master key."""
    return b"cairn-kms-key-v1\x00" + key_id.encode()


class KmsOps(ServiceCore):
    keyring: MasterKeys | None = None  # set by MetadataService.build from the config

    def _keyring(self) -> MasterKeys:
        if self.keyring is None:
            raise KmsNotConfigured(
                "this metadata service has no master keyring (MetadataConfig.master_keyring)"
            )
        return self.keyring

    async def create_kms_key(self, alias: str = "", description: str = "") -> KmsKey:
        """A new enabled key, with an optional alias (without `alias/`; `aws/` names are AWS's).
        KmsAliasExists, InvalidArgument, KmsNotConfigured."""
        await self.leading()
        alias = alias.removeprefix("alias/")
        if alias and (not _ALIAS.match(alias) or alias.startswith("aws/")):
            raise InvalidArgument(f"invalid alias {alias!r}: letters, digits, /_- and not starting with aws/")
        return await self._create(alias, description, existing_alias_ok=False)

    async def _create(self, alias: str, description: str, *, existing_alias_ok: bool) -> KmsKey:
        key_id = str(uuid.uuid4())
        sealed = self._keyring().seal(sse_crypto.new_data_key(), material_context(key_id))
        arn = f"arn:aws:kms:{self.region}:{self.account_id}:key/{key_id}"
        cmd = c.CreateKmsKey(key_id, arn, alias, description, sealed, self.now_ms(), existing_alias_ok)
        key: KmsKey = await self.write_catalog(cmd)
        return key

    async def get_kms_key(self, key: str) -> KmsKey:
        """The key named by id, ARN, `alias/NAME` or alias ARN; "" names the default key (created
        on first use). NoSuchKmsKey."""
        if not key:
            return await self._default_key()
        await self.linearize()
        return await self._resolve(key)

    async def _default_key(self) -> KmsKey:
        await self.linearize()
        try:
            return await self.store.catalog.read(kms_store.read_alias, DEFAULT_ALIAS)
        except NoSuchKmsKey:
            pass
        await self.leading()
        return await self._create(
            DEFAULT_ALIAS, "Default key that protects my S3 objects", existing_alias_ok=True
        )

    async def _resolve(self, ref: str) -> KmsKey:
        kind, name = "", ref
        arn = _ARN.match(ref)
        if arn:
            kind, name = arn.group(1), arn.group(2)
        elif ref.startswith("alias/"):
            kind, name = "alias", ref.removeprefix("alias/")
        if kind == "alias":
            if name == DEFAULT_ALIAS:
                return await self._default_key()
            return await self.store.catalog.read(kms_store.read_alias, name)
        if not _UUID.match(name):
            raise NoSuchKmsKey(f"Invalid keyId {ref}")
        return await self.store.catalog.read(kms_store.read_key, name)

    async def list_kms_keys(self) -> tuple[KmsKey, ...]:
        await self.linearize()
        return tuple(await self.store.catalog.read(kms_store.read_keys))

    async def set_kms_key_enabled(self, key: str, enabled: bool) -> KmsKey:
        """NoSuchKmsKey."""
        await self.leading()
        found = await self._resolve(key)
        result: KmsKey = await self.write_catalog(c.SetKmsKeyEnabled(found.key_id, enabled))
        return result

    def _material(self, key: KmsKey) -> bytes:
        if not key.enabled:
            raise KmsKeyDisabled(f"{key.arn} is disabled.")
        try:
            return self._keyring().unseal(key.sealed_material, material_context(key.key_id))
        except (sse_crypto.KeyUnavailable, sse_crypto.DecryptFailed) as exc:
            raise KmsNotConfigured(f"the material of {key.arn} does not open: {exc}") from exc

    async def generate_data_key(self, key: str, context: bytes) -> tuple[KmsKey, bytes, bytes]:
        """(the KMS key, a new data key, that data key sealed under the KMS key and `context`).
        NoSuchKmsKey, KmsKeyDisabled."""
        found = await self.get_kms_key(key)
        data_key = sse_crypto.new_data_key()
        return found, data_key, sse_crypto.seal_with(self._material(found), found.key_id, data_key, context)

    async def decrypt(self, ciphertext: bytes, context: bytes) -> tuple[KmsKey, bytes]:
        """(the KMS key, the data key) of a `generate_data_key` ciphertext and its `context`.
        NoSuchKmsKey, KmsKeyDisabled, KmsInvalidCiphertext."""
        try:
            key_id, _ = sse_crypto.parse_sealed(ciphertext)
        except (sse_crypto.DecryptFailed, UnicodeDecodeError) as exc:
            raise KmsInvalidCiphertext("not a data key ciphertext") from exc
        await self.linearize()
        found = await self.store.catalog.read(kms_store.read_key, key_id)
        try:
            return found, sse_crypto.unseal_with(self._material(found), ciphertext, context)
        except sse_crypto.DecryptFailed as exc:
            raise KmsInvalidCiphertext("the ciphertext does not open under its key and context") from exc

    # --- master-key rotation ------------------------------------------------------------------
    async def reseal_master_keys(self, target: int, cursor: str, limit: int) -> ResealPage:
        """Re-seal, under the active master key, the seals of one page of `target` (KMS_KEYS: the
        KMS keys' material; 0..shards-1: an object shard's SSE-S3 data keys) that name another.
        InvalidArgument, KmsNotConfigured."""
        await self.leading()
        keyring = self._keyring().current()
        shards = len(self.store.objects)
        if not KMS_KEYS <= target < shards or not 1 <= limit <= 10_000:
            raise InvalidArgument(f"target must be {KMS_KEYS}..{shards - 1} and limit 1..10000")
        in_use: set[str] = set()
        if target == KMS_KEYS:
            keys = await self.store.catalog.read(kms_store.read_page, cursor, limit)
            resealed = 0
            for key in keys:
                if key.master_key_id == keyring.active or key.master_key_id not in keyring.keys:
                    in_use.add(key.master_key_id)
                    continue
                material = keyring.unseal(key.sealed_material, material_context(key.key_id))
                sealed = keyring.seal(material, material_context(key.key_id))
                if await self.write_catalog(c.ResealKmsKey(key.key_id, key.sealed_material, sealed)):
                    resealed += 1
                in_use.add(keyring.active)
            done = len(keys) < limit
            return ResealPage(
                keyring.active, resealed, tuple(sorted(in_use)), "" if done else keys[-1].key_id, done, shards
            )
        found, next_cursor, done = await self.store.objects[target].read(kms_reseal.scan, cursor, limit)
        names = {b.id: b.name for b in self.all_buckets()}
        items = []
        for seal in found:
            master, _ = sse_crypto.parse_sealed(seal.sealed)
            bucket = names.get(seal.bucket_id)
            if master == keyring.active or master not in keyring.keys or bucket is None:
                in_use.add(master)
                continue
            identity = Identity(bucket, seal.key.decode(), seal.part_number)
            new = keyring.seal(keyring.unseal(seal.sealed, identity), identity)
            items.append(
                c.KeyReseal(
                    seal.bucket_id,
                    seal.key,
                    seal.rev,
                    seal.upload_id,
                    seal.part_number,
                    seal.blob_id,
                    seal.sealed,
                    new,
                )
            )
            in_use.add(keyring.active)
        resealed = await self.write(target, c.ResealBlobKeys(tuple(items))) if items else 0
        return ResealPage(keyring.active, resealed, tuple(sorted(in_use)), next_cursor, done, shards)
