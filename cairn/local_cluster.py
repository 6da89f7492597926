"""`cairn up`: a complete local cluster as separate processes on one machine.

Starts 3 placement replicas, the metadata service, N data nodes (each its own failure domain)
and the S3 API; waits until the cluster map has every data node up and every placement group
filled; then writes `<data-dir>/cluster.json` and prints the endpoint and root credentials.

Invariants:
- The layout (internal ports, replica ids, data node names and labels) is chosen on the first
  start and kept in `<data-dir>/layout.json`, so a second `cairn up` on the same directory
  brings back the same cluster and its data.
- Root credentials come from CAIRN_ROOT_ACCESS_KEY / CAIRN_ROOT_SECRET_KEY, or are generated
  once and kept (mode 0600) in `<data-dir>/credentials.json`.
- cluster.json always names every process with its current pid; it is rewritten on restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cairn import ports
from cairn.durable_file import write_atomic
from cairn.supervisor import Child, ChildSpec, Supervisor

log = logging.getLogger("cairn.up")

REGION = "us-east-1"
PLACEMENT_REPLICAS = ("p1", "p2", "p3")
STOP_ORDER = ("api", "datanode", "metadata", "placement")
READY_TIMEOUT_S = 120.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("up", help="run a local cluster on this machine")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("CAIRN_DATA_DIR", "cairn-data")))
    parser.add_argument("--host", default="127.0.0.1", help="address the S3 API listens on")
    parser.add_argument("--port", type=int, default=ports.S3, help="S3 API port")
    parser.add_argument("--data-nodes", type=int, default=12, help="data nodes (one failure domain each)")
    parser.add_argument("--api-workers", type=int, default=1, help="S3 API worker processes")
    parser.add_argument("--k", type=int, default=8, help="data shards per stripe (first start only)")
    parser.add_argument("--m", type=int, default=4, help="parity shards per stripe (first start only)")
    parser.add_argument("--pg-count", type=int, default=256, help="placement groups (first start only)")
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate"
    )
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="private key for --tls-cert (PEM)")
    parser.add_argument("--no-restart", action="store_true", help="do not restart children that die")
    parser.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class Layout:
    placement_ports: dict[str, int]
    metadata_port: int
    datanode_ports: dict[str, int]
    k: int
    m: int
    pg_count: int


def _free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that were free a moment ago. The sockets stay bound until all are
    chosen: ports picked one at a time can repeat once the OS recycles a just-closed one."""
    import socket

    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def load_or_create_layout(data_dir: Path, args: argparse.Namespace) -> Layout:
    path = data_dir / "layout.json"
    if path.exists():
        raw = json.loads(path.read_text())
        layout = Layout(**raw)
        missing = args.data_nodes - len(layout.datanode_ports)
        if missing <= 0:
            return layout
        ports = dict(layout.datanode_ports)
        taken = {*ports.values(), *layout.placement_ports.values(), layout.metadata_port, args.port}
        fresh = iter(p for p in _free_ports(missing + len(taken)) if p not in taken)
        for i in range(len(ports) + 1, len(ports) + missing + 1):
            ports[f"dn-{i:02d}"] = next(fresh)
        layout = Layout(**{**raw, "datanode_ports": ports})
    else:
        if args.data_nodes < args.k + args.m:
            raise SystemExit(
                f"cairn up: {args.data_nodes} data nodes give {args.data_nodes} failure domains, "
                f"but {args.k}+{args.m} erasure coding needs at least {args.k + args.m}"
            )
        needed = len(PLACEMENT_REPLICAS) + 1 + args.data_nodes
        chosen = [p for p in _free_ports(needed + 1) if p != args.port][:needed]  # never the S3 port
        internal = len(PLACEMENT_REPLICAS)
        layout = Layout(
            placement_ports=dict(zip(PLACEMENT_REPLICAS, chosen, strict=False)),
            metadata_port=chosen[internal],
            datanode_ports={f"dn-{i:02d}": port for i, port in enumerate(chosen[internal + 1 :], start=1)},
            k=args.k,
            m=args.m,
            pg_count=args.pg_count,
        )
    write_atomic(path, json.dumps(dataclasses.asdict(layout), indent=2).encode())
    return layout


def load_or_create_credentials(data_dir: Path) -> tuple[str, str, Path]:
    path = data_dir / "credentials.json"
    env_key = os.environ.get("CAIRN_ROOT_ACCESS_KEY")
    env_secret = os.environ.get("CAIRN_ROOT_SECRET_KEY")
    if env_key and env_secret:
        creds = {"access_key_id": env_key, "secret_access_key": env_secret}
        write_atomic(path, json.dumps(creds, indent=2).encode(), mode=0o600)
    elif path.exists():
        creds = json.loads(path.read_text())
    else:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        creds = {
            "access_key_id": "CAIRN" + "".join(secrets.choice(alphabet) for _ in range(15)),
            "secret_access_key": secrets.token_urlsafe(30)[:40],
        }
        write_atomic(path, json.dumps(creds, indent=2).encode(), mode=0o600)
    return creds["access_key_id"], creds["secret_access_key"], path


class LocalCluster:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir: Path = args.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.layout = load_or_create_layout(self.data_dir, args)
        self.access_key, self.secret_key, self.credentials_path = load_or_create_credentials(self.data_dir)
        self.tls = self._tls_files()
        scheme = "https" if self.tls else "http"
        self.endpoint = f"{scheme}://{args.host}:{args.port}"
        self.supervisor = Supervisor(restart=not args.no_restart, on_change=self.write_cluster_json)
        self.ready = False

    def _tls_files(self) -> tuple[Path, Path] | None:
        if self.args.tls_cert or self.args.tls_key:
            if not (self.args.tls_cert and self.args.tls_key):
                raise SystemExit("cairn up: --tls-cert and --tls-key go together")
            return self.args.tls_cert.resolve(), self.args.tls_key.resolve()
        if self.args.tls:
            from cairn.tls import ensure_self_signed

            return ensure_self_signed(self.data_dir / "tls", self.args.host)
        return None

    @property
    def placement_addrs(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.layout.placement_ports.values()]

    def _spec(
        self,
        role: str,
        name: str,
        module: str,
        args: list[str],
        addr: str,
        data_dir: Path | None,
        env: tuple[tuple[str, str], ...] = (),
    ) -> ChildSpec:
        return ChildSpec(
            role, name, module, tuple(args), addr, data_dir, self.data_dir / "logs" / f"{name}.log", env
        )

    def specs(self) -> dict[str, list[ChildSpec]]:
        layout = self.layout
        peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in layout.placement_ports.items())
        placement = ",".join(self.placement_addrs)
        out: dict[str, list[ChildSpec]] = {"placement": [], "metadata": [], "datanode": [], "api": []}
        for name, port in layout.placement_ports.items():
            d = self.data_dir / "placement" / name
            out["placement"].append(
                self._spec(
                    "placement",
                    name,
                    "cairn.placement",
                    [
                        "--id",
                        name,
                        "--data-dir",
                        str(d),
                        "--port",
                        str(port),
                        "--peers",
                        peers,
                        "--k",
                        str(layout.k),
                        "--m",
                        str(layout.m),
                        "--pg-count",
                        str(layout.pg_count),
                    ],
                    f"127.0.0.1:{port}",
                    d,
                )
            )
        d = self.data_dir / "metadata"
        root = (
            ("CAIRN_METADATA_ROOT_ACCESS_KEY", self.access_key),
            ("CAIRN_METADATA_ROOT_SECRET_KEY", self.secret_key),
        )
        out["metadata"].append(
            self._spec(
                "metadata",
                "metadata",
                "cairn.metadata",
                [
                    "--data-dir",
                    str(d),
                    "--port",
                    str(layout.metadata_port),
                ],
                f"127.0.0.1:{layout.metadata_port}",
                d,
                env=root,
            )
        )
        for i, (name, port) in enumerate(sorted(layout.datanode_ports.items()), start=1):
            d = self.data_dir / "datanodes" / name
            out["datanode"].append(
                self._spec(
                    "datanode",
                    name,
                    "cairn.datanode",
                    [
                        "--data-dir",
                        str(d),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--zone",
                        "local",
                        "--rack",
                        f"rack-{i:02d}",
                        "--node-host",
                        name,
                        "--placement",
                        placement,
                    ],
                    f"127.0.0.1:{port}",
                    d,
                )
            )
        api_args = [
            "--host",
            self.args.host,
            "--port",
            str(self.args.port),
            "--metadata",
            f"127.0.0.1:{layout.metadata_port}",
            "--placement",
            placement,
            "--workers",
            str(self.args.api_workers),
        ]
        if self.tls:
            api_args += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        out["api"].append(
            self._spec(
                "api", "api", "cairn.api_service", api_args, f"{self.args.host}:{self.args.port}", None
            )
        )
        return out

    def _process_id(self, child: Child) -> str:
        if child.spec.role == "datanode" and child.spec.data_dir is not None:
            node_id = child.spec.data_dir / "node_id"
            with contextlib.suppress(OSError):
                return node_id.read_text().strip() or child.spec.name
        return child.spec.name

    def write_cluster_json(self) -> None:
        doc = {
            "endpoint": self.endpoint,
            "region": REGION,
            "credentials_file": str(self.credentials_path),
            "ready": self.ready,
            "tls_cert": str(self.tls[0]) if self.tls else None,
            "processes": [
                {
                    "role": c.spec.role,
                    "id": self._process_id(c),
                    "name": c.spec.name,
                    "pid": c.pid,
                    "addr": c.spec.addr,
                    "data_dir": str(c.spec.data_dir) if c.spec.data_dir else None,
                    "log": str(c.spec.log_path),
                }
                for c in self.supervisor.children
            ],
        }
        write_atomic(self.data_dir / "cluster.json", json.dumps(doc, indent=2).encode())

    async def start(self) -> None:
        specs = self.specs()
        for role in ("placement", "metadata", "datanode"):
            for spec in specs[role]:
                await self.supervisor.start(spec)
            await asyncio.gather(*(self._wait_port(s) for s in specs[role]))
        await self._wait_cluster_map(len(specs["datanode"]))
        for spec in specs["api"]:
            await self.supervisor.start(spec)
        await self._wait_http()
        self.ready = True
        self.write_cluster_json()

    async def _wait_port(self, spec: ChildSpec) -> None:
        host, port = spec.addr.rsplit(":", 1)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_children()
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(host, int(port))
                writer.close()
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"cairn up: {spec.name} did not listen on {spec.addr}; see {spec.log_path}")

    def _check_children(self) -> None:
        if self.args.no_restart and self.supervisor.exited():
            dead = self.supervisor.exited()[0].spec
            raise SystemExit(f"cairn up: {dead.name} exited during start-up; see {dead.log_path}")

    async def _wait_cluster_map(self, datanodes: int) -> None:
        from cairn.placement.client import PlacementClient

        client = PlacementClient(self.placement_addrs)
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer yet"
        try:
            while time.monotonic() < deadline:
                self._check_children()
                try:
                    cmap = await client.cluster_map()
                    up = sum(1 for n in cmap.nodes.values() if n.state == "up")
                    filled = bool(cmap.pgs) and all(all(slot for slot in pg) for pg in cmap.pgs)
                    if up >= datanodes and filled:
                        return
                    last = f"{up}/{datanodes} data nodes up, placement groups {'filled' if filled else 'not yet filled'}"
                except Exception as exc:  # noqa: BLE001 - any failure here means "not ready yet"
                    last = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.25)
        finally:
            await client.close()
        raise SystemExit(f"cairn up: the cluster map did not become ready ({last})")

    async def _wait_http(self) -> None:
        context = ssl._create_unverified_context() if self.tls else None
        url = f"{self.endpoint}/"

        def probe() -> bool:
            try:
                urllib.request.urlopen(url, timeout=2, context=context)  # noqa: S310 - local endpoint
            except urllib.error.HTTPError:
                return True  # any S3 answer (403 without credentials) means it serves
            except OSError:
                return False
            return True

        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_children()
            if await asyncio.to_thread(probe):
                return
            await asyncio.sleep(0.2)
        raise SystemExit(f"cairn up: the S3 API did not answer on {self.endpoint}")

    def banner(self) -> str:
        ca = f"\n  CA bundle:  {self.tls[0]}" if self.tls else ""
        return (
            f"Cairn is up: {len(self.layout.datanode_ports)} data nodes, "
            f"{self.layout.k}+{self.layout.m} erasure coding, {self.layout.pg_count} placement groups\n"
            f"  endpoint:   {self.endpoint}\n"
            f"  region:     {REGION}\n"
            f"  access key: {self.access_key}\n"
            f"  secret key: {self.secret_key}{ca}\n"
            f"  cluster:    {self.data_dir / 'cluster.json'}\n"
            f"Try: AWS_ACCESS_KEY_ID={self.access_key} AWS_SECRET_ACCESS_KEY=... "
            f"aws --endpoint-url {self.endpoint} s3 ls\n"
            "Ctrl-C stops the cluster."
        )


async def _main(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(cluster.start())
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()  # re-raises a start-up failure
            print(cluster.banner(), flush=True)
            await stopper
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await starting
        print("cairn up: stopping", flush=True)
        return 0
    finally:
        stopper.cancel()
        await cluster.supervisor.stop_all(STOP_ORDER)
        cluster.ready = False
        cluster.write_cluster_json()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        return asyncio.run(_main(args))
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 1
        raise
