"""The lifecycle worker against the in-memory metadata service, on injected clocks: which versions,
delete markers and uploads each rule expires, and when."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cairn.gc.lifecycle import LifecycleWorker
from cairn.metadata.models import ObjectAttrs, VersioningState
from cairn.metadata.store import Store
from tests.unit.metadata.conftest import START_MS, FakeClock, WriterLikeService
from tests.unit.metadata.helpers import attrs

DAY_MS = 86_400_000
BUCKET = "bkt"


@pytest.fixture
async def svc(clock: FakeClock) -> AsyncIterator[WriterLikeService]:
    service = WriterLikeService(Store.open(None, 4), clock_ms=clock)
    await service.create_bucket(BUCKET, "owner")
    yield service
    await service.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def worker(svc: WriterLikeService, clock: FakeClock, day_s: float = 86400.0) -> LifecycleWorker:
    return LifecycleWorker(svc, day_s, wall=lambda: clock.ms / 1000)


def rules(*bodies: str) -> str:
    return (
        "<LifecycleConfiguration>"
        + "".join(f"<Rule>{b}</Rule>" for b in bodies)
        + "</LifecycleConfiguration>"
    )


async def keys(svc: WriterLikeService) -> list[tuple[str, bool, bool]]:
    page = await svc.list_object_versions(BUCKET)
    return [(v.key, v.is_latest, v.is_delete_marker) for v in page.versions]


async def test_expiration_days_with_filters_runs_at_the_next_day_boundary(
    svc: WriterLikeService, clock: FakeClock
) -> None:
    doc = rules(
        "<ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
        "<ID>tagged</ID><Filter><And><Tag><Key>tmp</Key><Value>yes</Value></Tag><ObjectSizeGreaterThan>2</ObjectSizeGreaterThan></And></Filter>"
        "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
        "<ID>off</ID><Filter></Filter><Status>Disabled</Status><Expiration><Days>1</Days></Expiration>",
    )
    await svc.put_bucket_config(BUCKET, "lifecycle", doc)
    await svc.put_object(BUCKET, "logs/a", attrs(b"1"))
    await svc.put_object(BUCKET, "keep", attrs(b"1"))
    await svc.put_object(BUCKET, "big-tmp", attrs(b"12345", tags=(("tmp", "yes"),)))
    await svc.put_object(BUCKET, "small-tmp", attrs(b"1", tags=(("tmp", "yes"),)))
    w = worker(svc, clock)
    clock.advance(DAY_MS)  # one day later, but the next midnight after that is still ahead
    assert (await w.run_pass())["objects_expired"] == 0
    midnight = -(-(START_MS + DAY_MS) // DAY_MS) * DAY_MS
    clock.ms = midnight
    counters = await w.run_pass()
    assert counters["objects_expired"] == 2
    assert [k for k, _, _ in await keys(svc)] == ["keep", "small-tmp"]


async def test_a_shortened_day_and_a_date(svc: WriterLikeService, clock: FakeClock) -> None:
    await svc.put_object(BUCKET, "a", attrs(b"1"))
    await svc.put_object(BUCKET, "dated/x", attrs(b"1"))
    date = "2023-11-20T00:00:00.000Z"  # START_MS is 2023-11-14
    await svc.put_bucket_config(
        BUCKET,
        "lifecycle",
        rules(
            "<ID>d</ID><Filter><Prefix>dated/</Prefix></Filter><Status>Enabled</Status>"
            f"<Expiration><Date>{date}</Date></Expiration>",
            "<ID>all</ID><Filter><Prefix>a</Prefix></Filter><Status>Enabled</Status><Expiration><Days>2</Days></Expiration>",
        ),
    )
    w = worker(svc, clock, day_s=1.0)
    clock.advance(1000)
    assert (await w.run_pass())["objects_expired"] == 0
    clock.advance(2000)
    assert (await w.run_pass())["objects_expired"] == 1
    assert [k for k, _, _ in await keys(svc)] == ["dated/x"]
    clock.ms = 1_700_438_400_000  # 2023-11-20T00:00:00Z
    assert (await w.run_pass())["objects_expired"] == 1
    assert await keys(svc) == []


async def test_versioned_expiration_noncurrent_versions_and_expired_markers(
    svc: WriterLikeService, clock: FakeClock
) -> None:
    await svc.set_bucket_versioning(BUCKET, VersioningState.ENABLED)
    for i in range(4):  # k: v0 (oldest) .. v3 (current)
        await svc.put_object(BUCKET, "k", attrs(bytes([i])))
        clock.advance(1000)
    await svc.put_object(BUCKET, "gone", attrs(b"x"))
    await svc.delete_object(BUCKET, "gone")  # a marker over one version
    await svc.put_bucket_config(
        BUCKET,
        "lifecycle",
        rules(
            "<ID>nc</ID><Filter/><Status>Enabled</Status>"
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
            "<ID>dm</ID><Filter/><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
        ),
    )
    w = worker(svc, clock, day_s=10.0)
    clock.advance(20_000)
    counters = await w.run_pass()
    # k keeps its current version and the newest noncurrent one; "gone"'s version is noncurrent
    # with no newer noncurrent version, so it stays (NewerNoncurrentVersions=1)
    assert counters["noncurrent_versions_expired"] == 2
    assert await keys(svc) == [
        ("gone", True, True),
        ("gone", False, False),
        ("k", True, False),
        ("k", False, False),
    ]
    await svc.put_bucket_config(
        BUCKET,
        "lifecycle",
        rules(
            "<ID>nc</ID><Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>",
            "<ID>dm</ID><Filter/><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
        ),
    )
    assert (await w.run_pass())["noncurrent_versions_expired"] == 2
    assert await keys(svc) == [("gone", True, True), ("k", True, False)]
    assert (await w.run_pass())["delete_markers_removed"] == 1  # now the marker is alone
    assert await keys(svc) == [("k", True, False)]


async def test_expiring_in_a_versioned_bucket_leaves_a_delete_marker(
    svc: WriterLikeService, clock: FakeClock
) -> None:
    await svc.set_bucket_versioning(BUCKET, VersioningState.ENABLED)
    await svc.put_object(BUCKET, "k", attrs(b"1"))
    await svc.put_bucket_config(
        BUCKET, "lifecycle", rules("<Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>")
    )
    clock.advance(3 * DAY_MS)
    assert (await worker(svc, clock).run_pass())["objects_expired"] == 1
    assert await keys(svc) == [("k", True, True), ("k", False, False)]


async def test_abort_incomplete_multipart_uploads(svc: WriterLikeService, clock: FakeClock) -> None:
    old = await svc.create_multipart_upload(BUCKET, "tmp/old", ObjectAttrs())
    await svc.create_multipart_upload(BUCKET, "other/old", ObjectAttrs())
    clock.advance(5000)
    await svc.create_multipart_upload(BUCKET, "tmp/new", ObjectAttrs())
    await svc.put_bucket_config(
        BUCKET,
        "lifecycle",
        rules(
            "<Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status>"
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
        ),
    )
    clock.advance(1000)
    assert (await worker(svc, clock, day_s=5.0).run_pass())["uploads_aborted"] == 1
    left = {(u.key, u.upload_id) for u in (await svc.list_multipart_uploads(BUCKET)).uploads}
    assert ("tmp/old", old.upload_id) not in left and {k for k, _ in left} == {"other/old", "tmp/new"}
