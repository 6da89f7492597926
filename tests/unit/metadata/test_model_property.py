"""Property tests: random operation sequences against a small in-memory model of S3 semantics.

The model keeps, per key, its versions newest first as (version id, is delete marker, etag)
and follows the AWS rules for enabled / suspended / unversioned buckets. After each sequence,
GETs, ListObjectVersions and paginated ListObjectsV2 / V1 (random prefix, delimiter and page
size) must equal what the model derives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.metadata.errors import NoSuchKey
from cairn.metadata.models import ObjectAttrs, VersioningState
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store

from .conftest import FakeClock

KEYS = st.text(alphabet="ab/+é", min_size=1, max_size=4)
OPS = st.one_of(
    st.tuples(st.just("put"), KEYS),
    st.tuples(st.just("delete"), KEYS),
    st.tuples(st.just("delete_version"), KEYS, st.integers(0, 3)),
    st.tuples(st.just("versioning"), st.sampled_from([VersioningState.ENABLED, VersioningState.SUSPENDED])),
)


@dataclass
class Model:
    versioning: VersioningState = VersioningState.UNVERSIONED
    keys: dict[str, list[tuple[str, bool, str]]] = field(default_factory=dict)

    def put(self, key: str, version_id: str, etag: str) -> None:
        rows = self.keys.setdefault(key, [])
        if self.versioning is not VersioningState.ENABLED:
            rows[:] = [r for r in rows if r[0] != "null"]
        rows.insert(0, (version_id, False, etag))

    def delete(self, key: str, marker_id: str | None) -> None:
        rows = self.keys.setdefault(key, [])
        if self.versioning is not VersioningState.ENABLED:
            rows[:] = [r for r in rows if r[0] != "null"]
        if self.versioning is not VersioningState.UNVERSIONED:
            rows.insert(0, (marker_id or "", True, ""))

    def current(self) -> dict[str, str]:
        return {k: rows[0][2] for k, rows in self.keys.items() if rows and not rows[0][1]}

    def listing(self, prefix: str, delimiter: str) -> list[tuple[str, bool]]:
        out: set[tuple[str, bool]] = set()
        for key in self.current():
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                out.add((prefix + rest[: rest.index(delimiter) + len(delimiter)], True))
            else:
                out.add((key, False))
        return sorted(out, key=lambda e: e[0].encode())


async def run(ops: list[tuple], listings: list[tuple[str, str, int]]) -> None:  # type: ignore[type-arg]
    clock = FakeClock()
    svc = MetadataService(Store.open(None, 3), clock_ms=clock)
    await svc.create_bucket("prop", "o")
    model = Model()
    try:
        for n, op in enumerate(ops):
            clock.advance(n % 2)  # many operations share a millisecond
            if op[0] == "put":
                v = await svc.put_object("prop", op[1], ObjectAttrs(size=1, etag=f"etag{n}"))
                assert (v.version_id == "null") == (model.versioning is not VersioningState.ENABLED)
                model.put(op[1], v.version_id, f"etag{n}")
            elif op[0] == "delete":
                r = await svc.delete_object("prop", op[1])
                assert r.is_delete_marker == (model.versioning is not VersioningState.UNVERSIONED)
                model.delete(op[1], r.version_id)
            elif op[0] == "delete_version":
                rows = model.keys.get(op[1], [])
                if rows:
                    vid, is_marker, _ = rows[op[2] % len(rows)]
                    r = await svc.delete_object("prop", op[1], vid)
                    assert r.is_delete_marker == is_marker
                    rows.remove(rows[op[2] % len(rows)])
            else:
                await svc.set_bucket_versioning("prop", op[1])
                model.versioning = op[1]
        current = model.current()
        for key, rows in model.keys.items():
            if key in current:
                assert (await svc.get_object("prop", key)).etag == current[key]
            else:
                try:
                    await svc.get_object("prop", key)
                    raise AssertionError(f"{key!r} should be absent")
                except NoSuchKey as err:
                    assert err.is_delete_marker == bool(rows)
        page = await svc.list_object_versions("prop")
        expected_versions = [
            (k, vid, m) for k in sorted(model.keys, key=str.encode) for vid, m, _ in model.keys[k]
        ]
        assert [(v.key, v.version_id, v.is_delete_marker) for v in page.versions] == expected_versions
        for prefix, delimiter, max_keys in listings:
            expected = model.listing(prefix, delimiter)
            got: list[tuple[str, bool]] = []
            token = None
            while True:
                p2 = await svc.list_objects_v2(
                    "prop", prefix=prefix, delimiter=delimiter, max_keys=max_keys, continuation_token=token
                )
                assert p2.key_count <= max_keys
                got += [(c.key, False) for c in p2.contents] + [(cp, True) for cp in p2.common_prefixes]
                if not p2.is_truncated:
                    break
                token = p2.next_continuation_token
            assert sorted(got, key=lambda e: e[0].encode()) == expected
            assert [g[0] for g in got if not g[1]] == [e[0] for e in expected if not e[1]]
            marker, v1 = "", []
            while True:
                p1 = await svc.list_objects_v1(
                    "prop", prefix=prefix, delimiter=delimiter, max_keys=max_keys, marker=marker
                )
                entries = sorted(
                    [(c.key, False) for c in p1.contents] + [(cp, True) for cp in p1.common_prefixes],
                    key=lambda e: e[0].encode(),
                )
                v1 += entries
                if not p1.is_truncated:
                    break
                marker = p1.next_marker if delimiter else entries[-1][0]  # type: ignore[assignment]
            assert v1 == expected
    finally:
        await svc.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(OPS, max_size=40),
    listings=st.lists(
        st.tuples(
            st.sampled_from(["", "a", "a/", "b", "é"]),
            st.sampled_from(["", "/", "+", "a"]),
            st.integers(1, 4),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_operations_and_listings_match_the_model(
    ops: list[tuple], listings: list[tuple[str, str, int]]
) -> None:  # type: ignore[type-arg]
    asyncio.run(run(ops, listings))
