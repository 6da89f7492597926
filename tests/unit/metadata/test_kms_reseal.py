"""Master-key rotation in the metadata service: every stored seal (KMS key material, SSE-S3 data
keys of versions and of parts in progress) is re-sealed under the new master key in pages, the
old key can then leave the keyring, and everything still opens."""

from __future__ import annotations

from cairn import sse_crypto
from cairn.blobs import BlobRef
from cairn.ids import new_blob_id
from cairn.metadata.kms import KMS_KEYS
from cairn.metadata.models import Encryption, ObjectAttrs
from cairn.metadata.service import MetadataService
from cairn.sse_crypto import Identity, Keyring


def _sealed_blob(keyring: Keyring, bucket: str, key: str, part: int = 0) -> tuple[BlobRef, bytes]:
    data_key = sse_crypto.new_data_key()
    sealed = keyring.seal(data_key, Identity(bucket, key, part))
    return BlobRef(new_blob_id(), 0, 100, 1 << 20, 8, 4, part, sealed), data_key


async def _reseal_everything(svc: MetadataService, limit: int) -> tuple[int, set[str]]:
    resealed, in_use, target, shards = 0, set[str](), KMS_KEYS, len(svc.store.objects)
    while target < shards:
        cursor, done = "", False
        while not done:
            page = await svc.reseal_master_keys(target, cursor, limit)
            resealed, cursor, done = resealed + page.resealed, page.next_cursor, page.done
            in_use.update(page.in_use)
        target += 1
    return resealed, in_use


async def test_rotation_reseals_every_stored_key_in_pages(svc: MetadataService, bucket: str) -> None:
    old = Keyring.generate()
    svc.keyring = old
    sse_s3 = Encryption(algorithm="AES256")
    keys = {}
    for n in range(7):  # versions spread over the shards, more than one page each
        blob, data_key = _sealed_blob(old, bucket, f"k{n}")
        await svc.put_object(
            bucket, f"k{n}", ObjectAttrs(size=100, etag="e", blobs=(blob,), encryption=sse_s3)
        )
        keys[f"k{n}"] = data_key
    kms_key = await svc.create_kms_key("team")
    _, kms_data_key, kms_sealed = await svc.generate_data_key("alias/team", b"ctx")
    upload = await svc.create_multipart_upload(bucket, "mp", ObjectAttrs(encryption=sse_s3))
    part_blob, part_key = _sealed_blob(old, bucket, "mp", 1)
    await svc.register_part(bucket, "mp", upload.upload_id, 1, size=100, etag="p", blobs=(part_blob,))

    new = old.rotated()
    svc.keyring = new
    resealed, in_use = await _reseal_everything(svc, limit=2)
    assert resealed == 7 + 1 + 1 and in_use == {new.active}
    assert await _reseal_everything(svc, limit=2) == (0, {new.active})  # a second run finds nothing

    svc.keyring = new.without({old.active})  # the old master key retired
    for key, data_key in keys.items():
        (blob,) = (await svc.get_object(bucket, key)).blobs
        assert sse_crypto.parse_sealed(blob.sealed_key)[0] == new.active
        assert svc.keyring.unseal(blob.sealed_key, Identity(bucket, key, 0)) == data_key
    (part,) = (await svc.list_parts(bucket, "mp", upload.upload_id)).parts
    assert svc.keyring.unseal(part.blobs[0].sealed_key, Identity(bucket, "mp", 1)) == part_key
    assert (await svc.get_kms_key(kms_key.key_id)).master_key_id == new.active
    assert (await svc.decrypt(kms_sealed, b"ctx"))[1] == kms_data_key


async def test_seals_under_a_key_the_service_lacks_are_reported_not_touched(
    svc: MetadataService, bucket: str
) -> None:
    stranger = Keyring.generate()
    blob, _ = _sealed_blob(stranger, bucket, "x")
    sse_s3 = Encryption(algorithm="AES256")
    await svc.put_object(bucket, "x", ObjectAttrs(size=100, etag="e", blobs=(blob,), encryption=sse_s3))
    svc.keyring = Keyring.generate()
    assert await _reseal_everything(svc, limit=100) == (0, {stranger.active})
    assert (await svc.get_object(bucket, "x")).blobs[0].sealed_key == blob.sealed_key
