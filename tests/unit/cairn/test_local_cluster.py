"""`cairn up`'s layout: every service gets its own port, and the layout survives restarts."""

from __future__ import annotations

import argparse
from pathlib import Path

from cairn.local_cluster import _free_ports, load_or_create_layout


def _args(data_nodes: int) -> argparse.Namespace:
    return argparse.Namespace(data_nodes=data_nodes, k=8, m=4, pg_count=32, port=9000)


def _all_ports(layout) -> list[int]:  # type: ignore[no-untyped-def]
    return [*layout.placement_ports.values(), layout.metadata_port, *layout.datanode_ports.values()]


def test_free_ports_are_distinct() -> None:
    for _ in range(20):
        ports = _free_ports(40)
        assert len(set(ports)) == 40


def test_layout_ports_are_distinct_kept_and_extended(tmp_path: Path) -> None:
    first = load_or_create_layout(tmp_path, _args(12))
    ports = _all_ports(first)
    assert len(ports) == 16 and len(set(ports)) == 16
    assert load_or_create_layout(tmp_path, _args(12)) == first
    grown = load_or_create_layout(tmp_path, _args(14))
    grown_ports = _all_ports(grown)
    assert len(grown_ports) == 18 and len(set(grown_ports)) == 18
    assert {
        k: v for k, v in grown.datanode_ports.items() if k in first.datanode_ports
    } == first.datanode_ports


def test_internal_services_never_take_the_s3_port(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import cairn.local_cluster as lc

    real = lc._free_ports
    s3_port = real(1)[0]
    monkeypatch.setattr(lc, "_free_ports", lambda count: [s3_port, *real(count - 1)])
    args = argparse.Namespace(data_nodes=12, k=8, m=4, pg_count=32, port=s3_port)
    layout = load_or_create_layout(tmp_path, args)
    assert s3_port not in _all_ports(layout) and len(set(_all_ports(layout))) == 16


def test_root_secret_reaches_metadata_through_the_environment_not_argv(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cairn.local_cluster import LocalCluster

    monkeypatch.setenv("CAIRN_ROOT_ACCESS_KEY", "ROOTKEY")
    monkeypatch.setenv("CAIRN_ROOT_SECRET_KEY", "root-secret-value")
    args = argparse.Namespace(
        data_dir=tmp_path,
        data_nodes=12,
        k=8,
        m=4,
        pg_count=32,
        port=9000,
        host="127.0.0.1",
        api_workers=1,
        tls=False,
        tls_cert=None,
        tls_key=None,
        no_restart=True,
    )
    specs = LocalCluster(args).specs()
    everything = [s for group in specs.values() for s in group]
    assert all("root-secret-value" not in " ".join(s.args) for s in everything)
    (metadata,) = specs["metadata"]
    assert dict(metadata.env)["CAIRN_METADATA_ROOT_SECRET_KEY"] == "root-secret-value"
