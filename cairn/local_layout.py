"""The layout of a local cluster: its internal ports and data node names, kept in `layout.json`.

Chosen at the first start and kept, so a second `cairn up` on the same directory brings back
the same cluster: placement replicas p1..p3, metadata replicas m1..m3, data nodes named like the
ids the placement service assigns (`dn-0001`, `dn-0002`, ...) and the background service (gc).

One name per data node, everywhere: `cairn up` writes the name into the node's `node_id` file
before its first start, and the placement service adopts the id a node's first heartbeat
carries (placement/README.md), so the placement id, the directory `datanodes/<name>`, the log
`logs/<name>.log`, cluster.json and `cairn admin nodes` all show the same name. Layouts written
before this rule (names `dn-01`, ids assigned in heartbeat order) are renamed to the ids their
nodes already have (`adopt_node_ids`).

Ports: the ones pinned by flags or the config file win; an unpinned port that is busy at start
(another program took it since) is replaced by a free one, since every address is given to the
services anew at each start. A busy pinned port is an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from cairn.durable_file import write_atomic
from cairn.local_config import METADATA_REPLICAS, PLACEMENT_REPLICAS, UpConfig

log = logging.getLogger("cairn.up")


class LayoutError(Exception):
    """The layout cannot be used as asked (too few data nodes, a pinned port busy, ...)."""


@dataclass(frozen=True, slots=True)
class Layout:
    placement_ports: dict[str, int]
    metadata_ports: dict[str, int]
    datanode_ports: dict[str, int]
    k: int
    m: int
    pg_count: int
    gc_port: int = 0  # 0 in a layout.json written before the background service: one is found
    gc_ops_port: int = 0  # the gc service's /metrics and health (0 in older layouts: one is found)
    metadata_shards: int = 8  # older layouts: their replicas were created with the service default, 8

    def internal_ports(self) -> dict[str, int]:
        """Process name -> port, for every internal service."""
        return {
            **self.placement_ports,
            **self.metadata_ports,
            **self.datanode_ports,
            "gc": self.gc_port,
            "gc-ops": self.gc_ops_port,
        }


def node_name(number: int) -> str:
    """The name (and placement id) of the data node numbered `number`: dn-0001, ..."""
    return f"dn-{number:04d}"


def _number(name: str) -> int:
    _, _, digits = name.rpartition("-")
    return int(digits) if digits.isdigit() else 0


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that were free a moment ago. The sockets stay bound until all are
    chosen: ports picked one at a time can repeat once the OS recycles a just-closed one."""
    with contextlib.ExitStack() as stack:
        chosen = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            chosen.append(int(sock.getsockname()[1]))
        return chosen


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (bound the way the services bind: with
    SO_REUSEADDR, so a closed connection's TIME_WAIT does not count as busy)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def adopt_node_ids(data_dir: Path, ports: dict[str, int]) -> dict[str, int]:
    """Rename data nodes whose directory holds a different placement id to that id."""
    renamed: dict[str, int] = {}
    for name, port in sorted(ports.items()):
        node_dir = data_dir / "datanodes" / name
        try:
            assigned = (node_dir / "node_id").read_text().strip()
        except OSError:
            assigned = ""
        if (
            assigned
            and assigned != name
            and assigned not in ports
            and not (node_dir.parent / assigned).exists()
        ):
            node_dir.rename(node_dir.parent / assigned)
            log.info("data node %s is %s in the cluster map: renamed its directory to match", name, assigned)
            name = assigned
        renamed[name] = port
    return renamed


def _create(config: UpConfig) -> Layout:
    if config.data_nodes < config.k + config.m:
        raise LayoutError(
            f"{config.data_nodes} data nodes give {config.data_nodes} failure domains, "
            f"but {config.k}+{config.m} erasure coding needs at least {config.k + config.m}"
        )
    services = len(PLACEMENT_REPLICAS) + len(METADATA_REPLICAS)
    chosen = free_ports(services + config.data_nodes + 1)
    return Layout(
        placement_ports=dict(zip(PLACEMENT_REPLICAS, chosen, strict=False)),
        metadata_ports=dict(zip(METADATA_REPLICAS, chosen[len(PLACEMENT_REPLICAS) :], strict=False)),
        datanode_ports={node_name(i): port for i, port in enumerate(chosen[services:-1], start=1)},
        gc_port=chosen[-1],
        k=config.k,
        m=config.m,
        pg_count=config.pg_count,
        metadata_shards=config.metadata_shards,
    )


def _grow(layout: Layout, data_nodes: int) -> Layout:
    ports = dict(layout.datanode_ports)
    number = max((_number(n) for n in ports), default=0)
    while len(ports) < data_nodes:
        number += 1
        ports[node_name(number)] = 0  # a port is found below
    return dataclasses.replace(layout, datanode_ports=ports)


def _pin(layout: Layout, config: UpConfig) -> tuple[Layout, dict[str, int]]:
    """The layout with the pinned ports applied, and process name -> pinned port."""
    pins = config.ports
    pinned = {
        **dict(zip(PLACEMENT_REPLICAS, pins.placement, strict=False)),
        **({METADATA_REPLICAS[0]: pins.metadata} if pins.metadata else {}),
        **dict(zip(sorted(layout.datanode_ports), pins.datanodes, strict=False)),
    }
    layout = dataclasses.replace(
        layout,
        placement_ports={n: pinned.get(n, p) for n, p in layout.placement_ports.items()},
        metadata_ports={n: pinned.get(n, p) for n, p in layout.metadata_ports.items()},
        datanode_ports={n: pinned.get(n, p) for n, p in layout.datanode_ports.items()},
    )
    return layout, pinned


def _settle_ports(layout: Layout, pinned: dict[str, int], s3_port: int) -> Layout:
    """Check every port: refuse a busy pinned one, replace a busy, clashing or missing unpinned one."""
    taken = set(pinned.values()) | {s3_port}
    moved: dict[str, int] = {}
    for name, port in layout.internal_ports().items():
        if name in pinned:
            if not port_free("127.0.0.1", port):
                raise LayoutError(f"port {port}, pinned for {name}, is in use by another program")
            continue
        if port and port not in taken and port_free("127.0.0.1", port):
            taken.add(port)
            continue
        fresh = next(p for p in free_ports(len(taken) + 1) if p not in taken)
        if port:
            log.info("port %d of %s is taken: %s moves to port %d", port, name, name, fresh)
        moved[name] = fresh
        taken.add(fresh)
    if not moved:
        return layout
    return dataclasses.replace(
        layout,
        placement_ports={n: moved.get(n, p) for n, p in layout.placement_ports.items()},
        metadata_ports={n: moved.get(n, p) for n, p in layout.metadata_ports.items()},
        datanode_ports={n: moved.get(n, p) for n, p in layout.datanode_ports.items()},
        gc_port=moved.get("gc", layout.gc_port),
        gc_ops_port=moved.get("gc-ops", layout.gc_ops_port),
    )


def load_or_create_layout(data_dir: Path, config: UpConfig) -> Layout:
    """The layout in `data_dir` (created on the first start), grown to `config.data_nodes`, with
    the pinned ports applied and every port free to listen on; saved back to layout.json."""
    path = data_dir / "layout.json"
    if path.exists():
        raw = json.loads(path.read_text())
        if "metadata_port" in raw:  # a layout from before the metadata group: its port is m1's
            first = raw.pop("metadata_port")
            raw["metadata_ports"] = {n: first if n == METADATA_REPLICAS[0] else 0 for n in METADATA_REPLICAS}
        layout = Layout(**raw)
        layout = dataclasses.replace(layout, datanode_ports=adopt_node_ids(data_dir, layout.datanode_ports))
    else:
        layout = _create(config)
    layout = _grow(layout, config.data_nodes)
    layout, pinned = _pin(layout, config)
    layout = _settle_ports(layout, pinned, config.port)
    write_atomic(path, json.dumps(dataclasses.asdict(layout), indent=2).encode())
    return layout
