"""`cairn up` before it starts anything: configuration, layout, node names, the directory lock,
the port checks, and the banner's commands."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.config import ConfigError
from cairn.data_dir_lock import DataDirInUse, DataDirLock
from cairn.local_cluster import LocalCluster
from cairn.local_config import PinnedPorts, UpConfig, add_arguments, from_args, port_list
from cairn.local_layout import Layout, LayoutError, free_ports, load_or_create_layout, port_free
from tests.support.procs import free_port


def _config(**fields) -> UpConfig:  # type: ignore[no-untyped-def]
    fields.setdefault("pg_count", 32)
    return UpConfig(**fields)


def _all_ports(layout: Layout) -> list[int]:
    return list(layout.internal_ports().values())


def _parse(*argv: str) -> UpConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_args(parser.parse_args(argv))


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A socket listening on a free 127.0.0.1 port, as another program would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def test_free_ports_are_distinct() -> None:
    for _ in range(20):
        ports = free_ports(40)
        assert len(set(ports)) == 40


def test_layout_ports_are_distinct_kept_and_extended(tmp_path: Path) -> None:
    first = load_or_create_layout(tmp_path, _config(data_nodes=12))
    ports = _all_ports(first)
    assert (
        len(ports) == 20 and len(set(ports)) == 20
    )  # 3 placement, 3 metadata, 12 data nodes, gc and its ops port
    assert load_or_create_layout(tmp_path, _config(data_nodes=12)) == first
    grown = load_or_create_layout(tmp_path, _config(data_nodes=14))
    grown_ports = _all_ports(grown)
    assert len(grown_ports) == 22 and len(set(grown_ports)) == 22
    assert {
        k: v for k, v in grown.datanode_ports.items() if k in first.datanode_ports
    } == first.datanode_ports
    assert sorted(set(grown.datanode_ports) - set(first.datanode_ports)) == ["dn-0013", "dn-0014"]


def test_data_nodes_are_named_like_placement_ids(tmp_path: Path) -> None:
    layout = load_or_create_layout(tmp_path, _config(data_nodes=12))
    assert sorted(layout.datanode_ports) == [f"dn-{i:04d}" for i in range(1, 13)]


def test_internal_services_never_take_the_s3_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cairn.local_layout as ll

    real = ll.free_ports
    s3_port = real(1)[0]
    monkeypatch.setattr(ll, "free_ports", lambda count: [s3_port, *real(count - 1)])
    layout = load_or_create_layout(tmp_path, _config(port=s3_port))
    assert s3_port not in _all_ports(layout) and len(set(_all_ports(layout))) == 20


def test_too_few_data_nodes_for_the_code_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="11 data nodes give 11 failure domains, but 8\\+4"):
        load_or_create_layout(tmp_path, _config(data_nodes=11))
    assert not (tmp_path / "layout.json").exists()


def test_pinned_ports_win_over_the_kept_layout(tmp_path: Path) -> None:
    first = load_or_create_layout(tmp_path, _config(data_nodes=3, k=2, m=1))
    placement, metadata, datanodes = free_ports(3), free_port(), free_ports(3)
    config = _parse(
        "--data-nodes",
        "3",
        "--placement-ports",
        ",".join(map(str, placement)),
        "--metadata-port",
        str(metadata),
        "--datanode-ports",
        ",".join(map(str, datanodes)),
    )
    pinned = load_or_create_layout(tmp_path, config)
    assert list(pinned.placement_ports.values()) == placement
    assert pinned.metadata_ports["m1"] == metadata
    assert [pinned.datanode_ports[n] for n in sorted(pinned.datanode_ports)] == datanodes
    assert sorted(pinned.datanode_ports) == sorted(first.datanode_ports)  # same nodes, new ports
    assert json.loads((tmp_path / "layout.json").read_text())["metadata_ports"]["m1"] == metadata


def test_an_unpinned_port_clashing_with_a_pin_moves(tmp_path: Path) -> None:
    first = load_or_create_layout(tmp_path, _config(data_nodes=3, k=2, m=1))
    stolen = first.datanode_ports["dn-0002"]
    layout = load_or_create_layout(
        tmp_path, _config(data_nodes=3, k=2, m=1, ports=PinnedPorts(metadata=stolen))
    )
    assert layout.metadata_ports["m1"] == stolen
    assert layout.datanode_ports["dn-0002"] != stolen and len(set(_all_ports(layout))) == 11


def test_a_busy_unpinned_port_moves_and_a_busy_pinned_port_is_refused(
    tmp_path: Path, listening: socket.socket
) -> None:
    busy = listening.getsockname()[1]
    first = load_or_create_layout(tmp_path, _config(data_nodes=3, k=2, m=1))
    raw = json.loads((tmp_path / "layout.json").read_text())
    raw["datanode_ports"]["dn-0001"] = busy  # another program took it since the first start
    (tmp_path / "layout.json").write_text(json.dumps(raw))
    moved = load_or_create_layout(tmp_path, _config(data_nodes=3, k=2, m=1))
    assert moved.datanode_ports["dn-0001"] != busy and port_free("127.0.0.1", moved.datanode_ports["dn-0001"])
    assert {n: p for n, p in moved.internal_ports().items() if n != "dn-0001"} == {
        n: p for n, p in first.internal_ports().items() if n != "dn-0001"
    }
    assert json.loads((tmp_path / "layout.json").read_text())["datanode_ports"]["dn-0001"] != busy
    with pytest.raises(LayoutError, match=f"port {busy}, pinned for m1, is in use"):
        load_or_create_layout(tmp_path, _config(data_nodes=3, k=2, m=1, ports=PinnedPorts(metadata=busy)))


def test_an_old_layout_takes_the_ids_its_nodes_were_given(tmp_path: Path) -> None:
    """Before one name per node, nodes were dn-01.. and placement gave them ids in heartbeat order."""
    ports = free_ports(7)
    old = {
        "placement_ports": dict(zip(("p1", "p2", "p3"), ports, strict=False)),
        "metadata_port": ports[3],
        "datanode_ports": {"dn-01": ports[4], "dn-02": ports[5], "dn-03": ports[6]},
        "k": 2,
        "m": 1,
        "pg_count": 8,
    }
    (tmp_path / "layout.json").write_text(json.dumps(old))
    for name, node_id in (("dn-01", "dn-0002"), ("dn-02", "dn-0003"), ("dn-03", "dn-0001")):
        (tmp_path / "datanodes" / name).mkdir(parents=True)
        (tmp_path / "datanodes" / name / "node_id").write_text(node_id + "\n")
        (tmp_path / "datanodes" / name / "marker").write_text(name)
    layout = load_or_create_layout(tmp_path, _config(data_nodes=3, k=2, m=1))
    assert layout.datanode_ports == {"dn-0002": ports[4], "dn-0003": ports[5], "dn-0001": ports[6]}
    for node_id, old_name in (("dn-0002", "dn-01"), ("dn-0003", "dn-02"), ("dn-0001", "dn-03")):
        assert (tmp_path / "datanodes" / node_id / "marker").read_text() == old_name
    assert sorted(p.name for p in (tmp_path / "datanodes").iterdir()) == ["dn-0001", "dn-0002", "dn-0003"]
    assert load_or_create_layout(tmp_path, _config(data_nodes=3, k=2, m=1)) == layout
    assert layout.metadata_ports["m1"] == ports[3]  # the single metadata service's port is m1's
    assert layout.metadata_shards == 8  # what its replicas were created with, whatever the config
    assert (
        len(set(_all_ports(layout))) == 11
    )  # 3 placement, 3 metadata, 3 data nodes, gc and its ops port (found)


def test_config_file_environment_and_flags_in_that_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "up.toml"
    toml.write_text(
        'port = 9100\nregion = "eu-west-1"\ndata_nodes = 3\n'
        "[ports]\nplacement = [7001, 7002, 7003]\nmetadata = 7100\ndatanodes = [7201, 7202, 7203]\n"
    )
    config = _parse("--config", str(toml))
    assert (config.port, config.region, config.data_nodes) == (9100, "eu-west-1", 3)
    assert config.ports.placement == (7001, 7002, 7003) and config.ports.datanodes == (7201, 7202, 7203)
    monkeypatch.setenv("CAIRN_UP_REGION", "ap-south-1")
    monkeypatch.setenv("CAIRN_DATA_DIR", str(tmp_path / "from-env"))
    config = _parse("--config", str(toml), "--port", "9200")
    assert (config.port, config.region, config.data_dir) == (9200, "ap-south-1", tmp_path / "from-env")
    assert _parse("--config", str(toml), "--region", "us-west-2", "--data-dir", "x").region == "us-west-2"
    monkeypatch.delenv("CAIRN_UP_REGION")
    defaults = _parse()
    assert (defaults.port, defaults.region, defaults.restart, defaults.ports.all()) == (
        9000,
        "us-east-1",
        True,
        [],
    )
    assert _parse("--no-restart").restart is False


def test_port_lists_take_ranges() -> None:
    assert port_list("7200-7203") == (7200, 7201, 7202, 7203)
    assert port_list("7000,7005-7006") == (7000, 7005, 7006)
    with pytest.raises(argparse.ArgumentTypeError):
        port_list("seven")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--placement-ports", "7000,7001"], "ports.placement needs 3 ports"),
        (["--data-nodes", "3", "--datanode-ports", "7200-7201"], "lists 2 ports for 3 data nodes"),
        (["--metadata-port", "9000"], "port 9000 is the S3 port"),
        (["--placement-ports", "7000,7001,7100", "--metadata-port", "7100"], "must be distinct"),
        (["--tls-cert", "cert.pem"], "tls_cert and tls_key go together"),
        (["--metadata-port", "70000"], "out of range"),
    ],
)
def test_inconsistent_settings_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _parse(*argv)


def test_the_data_directory_admits_one_holder(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    with pytest.raises(DataDirInUse, match=f"in use by another cairn up \\(pid {os.getpid()}\\)"):
        DataDirLock(tmp_path).acquire()
    first.release()
    again = DataDirLock(tmp_path)
    again.acquire()  # the kernel dropped the lock with the descriptor
    again.release()


def test_a_lock_held_after_its_supervisor_died_says_so(tmp_path: Path) -> None:
    import fcntl

    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / "cairn-up.lock").write_text(f"{dead}\n")
    fd = os.open(tmp_path / "cairn-up.lock", os.O_RDWR)  # a child that inherited the lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(
            DataDirInUse, match=f"services of a cairn up that ended \\(pid {dead}\\) are stopping"
        ):
            DataDirLock(tmp_path).acquire()
    finally:
        os.close(fd)


def test_a_busy_s3_port_is_refused_before_anything_is_written(
    tmp_path: Path, listening: socket.socket
) -> None:
    port = listening.getsockname()[1]
    fresh = tmp_path / "fresh"
    with pytest.raises(LayoutError, match=f"the S3 port 127.0.0.1:{port} is already in use"):
        LocalCluster(_config(data_dir=fresh, port=port)).open()
    assert not fresh.exists()
    used = tmp_path / "used"
    used.mkdir()
    cluster = LocalCluster(_config(data_dir=used, port=port))
    with pytest.raises(LayoutError, match="already in use"):
        cluster.open()
    cluster.lock.release()
    assert sorted(p.name for p in used.iterdir()) == ["cairn-up.lock"]


def test_metadata_shards_are_chosen_at_the_first_start_and_given_to_every_replica(tmp_path: Path) -> None:
    assert load_or_create_layout(tmp_path / "default", _config()).metadata_shards == 2
    assert load_or_create_layout(tmp_path, _config(metadata_shards=3)).metadata_shards == 3
    assert load_or_create_layout(tmp_path, _config(metadata_shards=5)).metadata_shards == 3  # kept
    assert _parse("--metadata-shards", "4").metadata_shards == 4
    with pytest.raises(ConfigError, match="metadata_shards"):
        _parse("--metadata-shards", "0")
    cluster = LocalCluster(_config(data_dir=tmp_path, port=free_port(), metadata_shards=5))
    cluster.open()
    try:
        replicas = cluster.specs()["metadata"]
    finally:
        cluster.lock.release()
    for spec in replicas:
        at = spec.args.index("--shards")
        assert spec.args[at + 1] == "3"


def test_root_secret_reaches_metadata_through_the_environment_not_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_ROOT_ACCESS_KEY", "ROOTKEY")
    monkeypatch.setenv("CAIRN_ROOT_SECRET_KEY", "root-secret-value")
    cluster = LocalCluster(_config(data_dir=tmp_path, port=free_port(), log_format="json"))
    cluster.open()
    try:
        specs = cluster.specs()
    finally:
        cluster.lock.release()
    everything = [s for group in specs.values() for s in group]
    assert all("root-secret-value" not in " ".join(s.args) for s in everything)
    assert [s.name for s in specs["metadata"]] == ["m1", "m2", "m3"]
    metadata = specs["metadata"][0]
    assert dict(metadata.env)["CAIRN_METADATA_ROOT_SECRET_KEY"] == "root-secret-value"
    assert all(s.args[-4:] == ("--log-format", "json", "--log-level", "INFO") for s in everything)


def test_one_name_per_data_node(tmp_path: Path) -> None:
    cluster = LocalCluster(_config(data_dir=tmp_path, port=free_port(), data_nodes=3, k=2, m=1))
    cluster.open()
    try:
        nodes = cluster.specs()["datanode"]
        cluster.name_data_nodes(nodes)
    finally:
        cluster.lock.release()
    for spec in nodes:
        assert spec.data_dir == tmp_path / "datanodes" / spec.name
        assert spec.log_path == tmp_path / "logs" / f"{spec.name}.log"
        assert (tmp_path / "datanodes" / spec.name / "node_id").read_text() == f"{spec.name}\n"
        args = list(spec.args)
        assert args[args.index("--node-host") + 1] == spec.name
    assert [s.name for s in nodes] == ["dn-0001", "dn-0002", "dn-0003"]


def _banner_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **fields) -> LocalCluster:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CAIRN_ROOT_ACCESS_KEY", "ROOTKEY")
    monkeypatch.setenv("CAIRN_ROOT_SECRET_KEY", "root secret")
    cluster = LocalCluster(_config(port=free_port(), **fields))
    cluster.open()
    cluster.lock.release()
    return cluster


def test_banner_commands_for_tls_and_a_directory_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAIRN_DATA_DIR", raising=False)
    cluster = _banner_cluster(
        tmp_path, monkeypatch, data_dir=tmp_path / "elsewhere", tls=True, region="eu-west-1"
    )
    aws = shlex.split(cluster.aws_command())
    assert aws[:2] == ["AWS_ACCESS_KEY_ID=ROOTKEY", "AWS_SECRET_ACCESS_KEY=root secret"]
    assert aws[2:] == [
        "aws",
        "--endpoint-url",
        cluster.endpoint,
        "--region",
        "eu-west-1",
        "--ca-bundle",
        str(tmp_path / "elsewhere" / "tls" / "tls-cert.pem"),
        "s3",
        "ls",
    ]
    assert cluster.endpoint.startswith("https://127.0.0.1:")
    admin = shlex.split(cluster.admin_command())
    assert admin[-4:] == ["cluster", "status", "--data-dir", str(tmp_path / "elsewhere")]
    banner = cluster.banner()
    assert cluster.aws_command() in banner and cluster.admin_command() in banner
    assert f"CA bundle:  {tmp_path / 'elsewhere' / 'tls' / 'tls-cert.pem'}" in banner


def test_banner_commands_for_the_default_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAIRN_DATA_DIR", raising=False)
    cluster = _banner_cluster(tmp_path, monkeypatch)
    assert cluster.data_dir == tmp_path / "cairn-data"
    assert "--ca-bundle" not in cluster.aws_command() and cluster.endpoint.startswith("http://")
    assert shlex.split(cluster.admin_command())[-3:] == ["admin", "cluster", "status"]
