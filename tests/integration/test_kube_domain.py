"""The Helm chart's failure domains: `cairn kube-domain` reads the pod's Node from a (fake, HTTPS)
Kubernetes API with a bearer token, writes zone/rack/host, and a real data node started with
`--failure-domain-file` registers with exactly those labels in the placement service's map."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cairn.kube_domain import domain_of
from cairn.placement.client import PlacementClient
from cairn.tls import ensure_self_signed
from tests.integration.test_datanode_heartbeat import node_id_of, start_placement
from tests.support.procs import ServiceProcess, free_port, wait_for

TOKEN = "service-account-token"
NODES: dict[str, dict[str, Any]] = {
    "worker-3": {
        "kind": "Node",
        "metadata": {
            "name": "worker-3",
            "labels": {
                "topology.kubernetes.io/zone": "eu-west-1b",
                "kubernetes.io/hostname": "ip-10-0-3-7",
                "example.com/rack": "r12",
            },
        },
    },
    "bare": {"kind": "Node", "metadata": {"name": "bare", "labels": {}}},
}


class FakeApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(403, {"kind": "Status", "reason": "Forbidden"})
            return
        prefix = "/api/v1/nodes/"
        name = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
        if name in NODES:
            self._answer(200, NODES[name])
        else:
            self._answer(404, {"kind": "Status", "reason": "NotFound"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """(URL, CA file, token file) of an HTTPS fake API server on 127.0.0.1."""
    cert, key = ensure_self_signed(tmp_path / "tls", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert, token
    finally:
        server.shutdown()
        server.server_close()


def kube_domain(
    api: tuple[str, Path, Path], *args: str, token: Path | None = None
) -> subprocess.CompletedProcess[str]:
    url, ca, default_token = api
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn",
            "kube-domain",
            "--api-server",
            url,
            "--ca-file",
            str(ca),
            "--token-file",
            str(token or default_token),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_domain_from_node_labels() -> None:
    assert domain_of(NODES["worker-3"]) == {
        "zone": "eu-west-1b",
        "rack": "ip-10-0-3-7",
        "host": "ip-10-0-3-7",
    }
    assert domain_of(NODES["worker-3"], rack_label="example.com/rack")["rack"] == "r12"
    # no zone label: the default zone; no hostname label: the node's name
    assert domain_of(NODES["bare"], default_zone="dc1") == {"zone": "dc1", "rack": "bare", "host": "bare"}


def test_kube_domain_writes_the_nodes_domain(api: tuple[str, Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "domain" / "failure-domain.json"
    result = kube_domain(api, "--node", "worker-3", "--out", str(out), "--rack-label", "example.com/rack")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(out.read_text()) == {"zone": "eu-west-1b", "rack": "r12", "host": "ip-10-0-3-7"}
    assert "worker-3" in result.stdout


def test_kube_domain_fails_loudly(api: tuple[str, Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "failure-domain.json"
    missing = kube_domain(api, "--node", "no-such-node", "--out", str(out))
    assert missing.returncode == 1 and "HTTP 404" in missing.stdout
    bad_token = tmp_path / "bad-token"
    bad_token.write_text("wrong")
    refused = kube_domain(api, "--node", "worker-3", "--out", str(out), token=bad_token)
    assert refused.returncode == 1 and "HTTP 403" in refused.stdout
    assert not out.exists()


def start_node_with_domain_file(
    data_dir: Path, port: int, placement_port: int, domain_file: Path, processes: list[ServiceProcess]
) -> ServiceProcess:
    args = ["--data-dir", str(data_dir), "--port", str(port), "--failure-domain-file", str(domain_file)]
    env = {"CAIRN_DATANODE_HEARTBEAT_INTERVAL_S": "0.2"}
    log = data_dir.parent / f"datanode-{len(processes)}.log"
    proc = ServiceProcess(
        "cairn.datanode", [*args, "--placement", f"127.0.0.1:{placement_port}"], log, env
    ).start()
    processes.append(proc)
    return proc


async def test_data_node_registers_with_the_file_domain(
    api: tuple[str, Path, Path], tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    domain_file = tmp_path / "failure-domain.json"
    result = kube_domain(api, "--node", "worker-3", "--out", str(domain_file))
    assert result.returncode == 0, result.stdout + result.stderr
    pport, dport, data_dir = free_port(), free_port(), tmp_path / "node"
    start_placement(tmp_path, pport, processes)
    start_node_with_domain_file(data_dir, dport, pport, domain_file, processes)
    await asyncio.to_thread(wait_for, lambda: node_id_of(data_dir) is not None, 20, "a node id")
    client = PlacementClient([f"127.0.0.1:{pport}"])
    try:
        info = (await client.cluster_map()).nodes[node_id_of(data_dir) or ""]
        assert (info.zone, info.rack, info.host) == ("eu-west-1b", "ip-10-0-3-7", "ip-10-0-3-7")
    finally:
        await client.close()


def test_data_node_refuses_a_bad_domain_file(tmp_path: Path, processes: list[ServiceProcess]) -> None:
    domain_file = tmp_path / "failure-domain.json"
    domain_file.write_text(json.dumps({"zone": "", "host": "h1"}))
    proc = start_node_with_domain_file(tmp_path / "node", free_port(), free_port(), domain_file, processes)
    wait_for(lambda: not proc.alive(), 20, "the data node to exit")
    assert "zone must be a non-empty string" in proc.log_tail()
    assert proc.proc is not None and proc.proc.returncode != 0
