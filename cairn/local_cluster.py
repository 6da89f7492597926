"""`cairn up`: a complete local cluster as separate processes on one machine.

Starts 3 placement replicas, 3 metadata replicas (one Raft group), N data nodes (each its own
failure domain), the S3 API and the background service (cairn.gc); waits until the cluster map has
every data node up and every placement group filled, the S3 API answers as this cluster and the
background service listens; then writes `<data-dir>/cluster.json` (ready)
and prints the endpoint and root credentials.

Invariants:
- Nothing starts unless this process holds `<data-dir>/cairn-up.lock` (cairn.data_dir_lock)
  and the S3 port is free: a second `cairn up` on the same directory or port exits with a
  message and status 1, touching nothing.
- Children die with the supervisor (cairn.lifeline), and the directory stays locked until the
  last of them has exited.
- "Cairn is up" is printed, and cluster.json says ready, only after a ListBuckets signed with
  the root key has answered with the owner id this cluster's metadata service gives the root
  user (cairn.s3_identity).
- The layout (internal ports, data node names) is kept in `<data-dir>/layout.json`
  (cairn.local_layout); a data node's name is its placement id, everywhere.
- Root credentials come from CAIRN_ROOT_ACCESS_KEY / CAIRN_ROOT_SECRET_KEY, or are generated
  once and kept (mode 0600) in `<data-dir>/credentials.json`.
- cluster.json always names every process with its current pid; it is rewritten on restarts.
- Every internal gRPC connection is mutual TLS (cairn.mtls): the cluster CA and one certificate
  per role live in `<data-dir>/pki/`, the admin CLI's next to credentials.json; each child gets
  its role's files through CAIRN_RPC_CA/CERT/KEY, and `cairn up` itself calls as the admin.
  Certificates missing or expiring within 30 days are issued anew at start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shlex
import signal
import ssl
import sys
import time
from pathlib import Path

from cairn import logs, rpc
from cairn.config import ConfigError
from cairn.data_dir_lock import DataDirInUse, DataDirLock
from cairn.durable_file import write_atomic
from cairn.local_config import UpConfig, add_arguments, from_args
from cairn.local_layout import Layout, LayoutError, load_or_create_layout, port_free
from cairn.mtls import ClusterPki
from cairn.s3_identity import ProbeFailed, list_buckets_owner
from cairn.sse_crypto import Keyring
from cairn.supervisor import Child, ChildSpec, Supervisor

log = logging.getLogger("cairn.up")

STOP_ORDER = ("gc", "api", "datanode", "metadata", "placement")
READY_TIMEOUT_S = 120.0
EXIT_REFUSED, EXIT_CONFIG = 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "up",
        help="run a local cluster on this machine",
        description="Run a local cluster on this machine. Settings come from the defaults, then "
        "--config FILE (TOML, same names as the flags, internal ports under [ports]), then "
        "CAIRN_UP_<SETTING> variables, then the flags.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


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


def load_or_create_keyring(data_dir: Path) -> Path:
    """The cluster master keyring that seals server-side encryption's data keys: created on the
    first start (mode 0600), kept after."""
    path = data_dir / "master-keyring.json"
    if not path.exists():
        Keyring.generate().save(path)
    return path


class LocalCluster:
    def __init__(self, config: UpConfig) -> None:
        self.config = config
        self.data_dir: Path = config.data_dir.resolve()
        self.lock = DataDirLock(self.data_dir)
        scheme = "https" if config.tls or config.tls_cert else "http"
        self.endpoint = f"{scheme}://{config.host}:{config.port}"
        self.ready = False
        self.ops_addrs: dict[str, str] = {}  # process name -> its /metrics and health "host:port"

    def open(self) -> None:
        """Lock the data directory, check the S3 port, then settle the layout, credentials and
        certificate. Raises DataDirInUse or LayoutError before anything is started or written."""
        # A directory in use is the more telling refusal, but a new one is not even created
        # when the port is busy.
        fresh = not self.data_dir.exists()
        if fresh:
            self._check_s3_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        if not fresh:
            self._check_s3_port()
        self.layout: Layout = load_or_create_layout(self.data_dir, self.config)
        self.access_key, self.secret_key, self.credentials_path = load_or_create_credentials(self.data_dir)
        self.tls = self._tls_files()
        self.keyring_path = load_or_create_keyring(self.data_dir)
        self.pki = ClusterPki(self.data_dir)
        self.pki.ensure(hosts=(self.config.host,))
        rpc.set_identity(self.pki.identity("admin"))
        self.supervisor = Supervisor(
            restart=self.config.restart, on_change=self.write_cluster_json, inherit_fds=(self.lock.fd,)
        )

    def _check_s3_port(self) -> None:
        if not port_free(self.config.host, self.config.port):
            raise LayoutError(
                f"the S3 port {self.config.host}:{self.config.port} is already in use "
                "(another cairn up or another program); choose another with --port"
            )

    def _tls_files(self) -> tuple[Path, Path] | None:
        if self.config.tls_cert and self.config.tls_key:
            return self.config.tls_cert.resolve(), self.config.tls_key.resolve()
        if self.config.tls:
            from cairn.tls import ensure_self_signed

            return ensure_self_signed(self.data_dir / "tls", self.config.host)
        return None

    @property
    def ca_bundle(self) -> Path | None:
        """The certificate clients should trust: the generated one (a user's own certificate
        is trusted through their CA)."""
        return self.tls[0] if self.tls and not self.config.tls_cert else None

    @property
    def placement_addrs(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.layout.placement_ports.values()]

    @property
    def metadata_addrs(self) -> str:
        """Every metadata replica's address, comma-separated (what MetadataClient takes)."""
        return ",".join(f"127.0.0.1:{p}" for p in self.layout.metadata_ports.values())

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
        logging_args = ["--log-format", self.config.log_format, "--log-level", self.config.log_level]
        env = (*env, *self.pki.identity(role).env())
        return ChildSpec(
            role,
            name,
            module,
            (*args, *logging_args),
            addr,
            data_dir,
            self.data_dir / "logs" / f"{name}.log",
            env,
        )

    def specs(self) -> dict[str, list[ChildSpec]]:
        layout = self.layout
        peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in layout.placement_ports.items())
        placement = ",".join(self.placement_addrs)
        out: dict[str, list[ChildSpec]] = {
            "placement": [],
            "metadata": [],
            "datanode": [],
            "api": [],
            "gc": [],
        }
        for name, port in layout.placement_ports.items():
            d = self.data_dir / "placement" / name
            args = ["--id", name, "--data-dir", str(d), "--port", str(port), "--peers", peers]
            args += ["--k", str(layout.k), "--m", str(layout.m), "--pg-count", str(layout.pg_count)]
            out["placement"].append(
                self._spec("placement", name, "cairn.placement", args, f"127.0.0.1:{port}", d)
            )
        root = (
            ("CAIRN_METADATA_ROOT_ACCESS_KEY", self.access_key),
            ("CAIRN_METADATA_ROOT_SECRET_KEY", self.secret_key),
        )
        metadata_peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in layout.metadata_ports.items())
        metadata_addr = self.metadata_addrs
        for name, port in layout.metadata_ports.items():
            d = self.data_dir / "metadata" / name
            args = ["--id", name, "--data-dir", str(d), "--port", str(port), "--peers", metadata_peers]
            args += ["--shards", str(layout.metadata_shards)]
            args += ["--master-keyring", str(self.keyring_path)]
            out["metadata"].append(
                self._spec("metadata", name, "cairn.metadata", args, f"127.0.0.1:{port}", d, root)
            )
        for name, port in sorted(layout.datanode_ports.items()):
            d = self.data_dir / "datanodes" / name
            # one failure domain per node; the name is also the node's placement id (local_layout)
            labels = ["--zone", "local", "--rack", f"rack-{name.removeprefix('dn-')}", "--node-host", name]
            args = ["--data-dir", str(d), "--host", "127.0.0.1", "--port", str(port), *labels]
            args += ["--placement", placement]
            out["datanode"].append(
                self._spec("datanode", name, "cairn.datanode", args, f"127.0.0.1:{port}", d)
            )
        api_args = [
            "--host",
            self.config.host,
            "--port",
            str(self.config.port),
            "--region",
            self.config.region,
        ]
        api_args += ["--metadata", metadata_addr, "--placement", placement]
        api_args += ["--workers", str(self.config.api_workers)]
        if self.tls:
            api_args += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        api_args += ["--master-keyring", str(self.keyring_path)]
        api_addr = f"{self.config.host}:{self.config.port}"
        out["api"].append(self._spec("api", "api", "cairn.api_service", api_args, api_addr, None))
        gc_addr = f"127.0.0.1:{layout.gc_port}"
        gc_args = ["--port", str(layout.gc_port), "--placement", placement, "--metadata", metadata_addr]
        gc_args += ["--ops-port", str(layout.gc_ops_port)]
        self.ops_addrs["gc"] = f"127.0.0.1:{layout.gc_ops_port}"
        out["gc"].append(self._spec("gc", "gc", "cairn.gc", gc_args, gc_addr, None))
        return out

    def name_data_nodes(self, specs: list[ChildSpec]) -> None:
        """Give each new data node its name as its id before its first heartbeat (local_layout)."""
        for spec in specs:
            if spec.data_dir is not None and not (spec.data_dir / "node_id").exists():
                write_atomic(spec.data_dir / "node_id", f"{spec.name}\n".encode())

    def _process_id(self, child: Child) -> str:
        if child.spec.role == "datanode" and child.spec.data_dir is not None:
            node_id = child.spec.data_dir / "node_id"
            with contextlib.suppress(OSError):
                return node_id.read_text().strip() or child.spec.name
        return child.spec.name

    def write_cluster_json(self) -> None:
        doc = {
            "endpoint": self.endpoint,
            "region": self.config.region,
            "credentials_file": str(self.credentials_path),
            "ready": self.ready,
            "tls_cert": str(self.tls[0]) if self.tls else None,
            "rpc_ca": str(self.pki.ca_cert),
            "admin_cert": str(self.pki.paths("admin")[0]),
            "admin_key": str(self.pki.paths("admin")[1]),
            "supervisor_pid": os.getpid(),
            "lock_file": str(self.lock.path),
            "processes": [
                {
                    "role": c.spec.role,
                    "id": self._process_id(c),
                    "name": c.spec.name,
                    "pid": c.pid,
                    "addr": c.spec.addr,
                    "data_dir": str(c.spec.data_dir) if c.spec.data_dir else None,
                    "log": str(c.spec.log_path),
                    **({"ops_addr": self.ops_addrs[c.spec.name]} if c.spec.name in self.ops_addrs else {}),
                }
                for c in self.supervisor.children
            ],
        }
        write_atomic(self.data_dir / "cluster.json", json.dumps(doc, indent=2).encode())

    async def start(self) -> None:
        specs = self.specs()
        self.name_data_nodes(specs["datanode"])
        for role in ("placement", "metadata", "datanode"):
            for spec in specs[role]:
                await self.supervisor.start(spec)
            await asyncio.gather(*(self._wait_port(s) for s in specs[role]))
        await self._wait_cluster_map(len(specs["datanode"]))
        for spec in specs["api"] + specs["gc"]:
            await self.supervisor.start(spec)
        await self._wait_identity()
        await asyncio.gather(*(self._wait_port(s) for s in specs["gc"]))
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
        if not self.config.restart and self.supervisor.exited():
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

    async def _root_owner_id(self) -> str:
        """The root user's id, from this cluster's own metadata service: the replica that leads
        ensures the root key after its election, so until then the key may not exist yet."""
        from cairn.metadata.client import MetadataClient
        from cairn.metadata.errors import NoSuchAccessKey

        client = MetadataClient(self.metadata_addrs, deadline_s=10.0)
        deadline = time.monotonic() + READY_TIMEOUT_S
        try:
            while True:
                self._check_children()
                try:
                    return (await client.get_access_key(self.access_key)).user_id
                except NoSuchAccessKey:
                    if time.monotonic() >= deadline:
                        raise
                    await asyncio.sleep(0.25)
        finally:
            await client.close()

    async def _wait_identity(self) -> None:
        """Until a ListBuckets signed with the root key answers as this cluster's root user."""
        expected = await self._root_owner_id()
        context = None
        if self.ca_bundle is not None:  # the generated certificate is verified, as `aws --ca-bundle` will
            context = ssl.create_default_context(cafile=str(self.ca_bundle))
        elif self.tls:  # a user's certificate may name another host; the owner id is the proof
            context = ssl._create_unverified_context()
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._check_children()
            try:
                owner = await asyncio.to_thread(
                    list_buckets_owner,
                    self.endpoint,
                    self.access_key,
                    self.secret_key,
                    self.config.region,
                    context,
                )
            except ProbeFailed as exc:
                last = str(exc)
            else:
                if owner == expected:
                    return
                last = f"it answered as owner {owner}, not as this cluster's root user {expected}"
            await asyncio.sleep(0.2)
        raise SystemExit(f"cairn up: the S3 API on {self.endpoint} did not answer as this cluster ({last})")

    def admin_command(self) -> str:
        """How to run `cairn admin` against this cluster from the current directory."""
        from cairn.admin.target import data_dir as admin_default_dir

        if Path(sys.argv[0]).name == "cairn":  # the console script, as it was typed
            program = shlex.quote(sys.argv[0])
        else:
            program = f"{shlex.quote(sys.executable)} -m cairn"
        command = f"{program} admin cluster status"
        if admin_default_dir(None).resolve() != self.data_dir:
            command += f" --data-dir {shlex.quote(str(self.data_dir))}"
        return command

    def aws_command(self) -> str:
        """A working `aws` command line for this cluster, credentials included."""
        env = f"AWS_ACCESS_KEY_ID={shlex.quote(self.access_key)} AWS_SECRET_ACCESS_KEY={shlex.quote(self.secret_key)}"
        command = f"{env} aws --endpoint-url {self.endpoint} --region {shlex.quote(self.config.region)}"
        if self.ca_bundle:
            command += f" --ca-bundle {shlex.quote(str(self.ca_bundle))}"
        return command + " s3 ls"

    def banner(self) -> str:
        ca = f"\n  CA bundle:  {self.ca_bundle}" if self.ca_bundle else ""
        return (
            f"Cairn is up: {len(self.layout.datanode_ports)} data nodes, "
            f"{self.layout.k}+{self.layout.m} erasure coding, {self.layout.pg_count} placement groups\n"
            f"  endpoint:   {self.endpoint}\n"
            f"  region:     {self.config.region}\n"
            f"  access key: {self.access_key}\n"
            f"  secret key: {self.secret_key}{ca}\n"
            f"  cluster:    {self.data_dir / 'cluster.json'}\n"
            f"  logs:       {self.data_dir / 'logs'}\n"
            "Try:\n"
            f"  {self.aws_command()}\n"
            f"  {self.admin_command()}\n"
            "Ctrl-C stops the cluster."
        )


async def _main(cluster: LocalCluster) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed
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
        log.info("stopping")
        return 0
    finally:
        stopper.cancel()
        await cluster.supervisor.stop_all(STOP_ORDER)
        cluster.ready = False
        cluster.write_cluster_json()


def run(args: argparse.Namespace) -> int:
    try:
        config = from_args(args)
    except (ConfigError, OSError) as exc:
        print(f"cairn up: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(config.log_format, "up", level=config.log_level)
    cluster = LocalCluster(config)
    try:
        cluster.open()
    except (DataDirInUse, LayoutError) as exc:
        print(f"cairn up: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        return asyncio.run(_main(cluster))
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return EXIT_REFUSED
        raise
    finally:
        cluster.lock.release()
