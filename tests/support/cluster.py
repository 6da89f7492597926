"""A real `cairn up` local cluster for integration and fault tests.

`start_cluster()` runs `python -m cairn up` on free ports in a fresh data directory and waits
until its cluster.json says ready. `RunningCluster.stop()` stops it with SIGTERM (which stops
every child in order) and then kills, by pid, any child cairn up did not stop.
Set CAIRN_TEST_ENDPOINT (plus CAIRN_TEST_ACCESS_KEY / CAIRN_TEST_SECRET_KEY) to run the S3
tests against an external endpoint instead; process-level fault tests need a local cluster.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.procs import ServiceProcess, free_port, wait_for

READY_TIMEOUT_S = 150.0


@dataclass
class RunningCluster:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    data_dir: Path | None = None
    proc: ServiceProcess | None = None
    tls_cert: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def cluster_json(self) -> dict[str, Any]:
        if self.data_dir is None:
            raise RuntimeError("external endpoint: no local cluster.json")
        return json.loads((self.data_dir / "cluster.json").read_text())

    def processes(self, role: str) -> list[dict[str, Any]]:
        return [p for p in self.cluster_json()["processes"] if p["role"] == role]

    def act_as(self, role: str) -> None:
        """Make this test process's gRPC calls with the local cluster's certificate of `role`
        (cairn.mtls) from now on; tests/conftest.py drops it when the test ends."""
        from cairn import rpc
        from cairn.mtls import ClusterPki

        if self.data_dir is None:
            raise RuntimeError("external endpoint: no local cluster certificates")
        rpc.set_identity(ClusterPki(self.data_dir).identity(role))

    def aws_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        if self.tls_cert:
            env["AWS_CA_BUNDLE"] = self.tls_cert
        return env

    def s3_client(self, retries: dict[str, Any] | None = None, **config: Any) -> Any:
        """boto3 for this cluster; `retries` defaults to one retry (botocore's max_attempts=1)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            verify=self.tls_cert if self.tls_cert else None,
            config=Config(retries=retries or {"max_attempts": 1, "mode": "standard"}, **config),
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            listed = self.cluster_json()["processes"]
        except (OSError, ValueError):
            listed = []
        self.proc.stop(timeout=40)
        for entry in listed:  # children cairn up failed to stop (it was killed, say)
            pid = entry.get("pid")
            if pid and _is_cluster_child(pid, entry):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _is_cluster_child(pid: int, entry: dict[str, Any]) -> bool:
    """Whether `pid` is still the process cluster.json names (not a reused pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    marker = entry.get("data_dir") or entry["addr"].rsplit(":", 1)[1]
    return any(arg.startswith(b"cairn.") for arg in argv) and any(marker.encode() in arg for arg in argv)


def external_cluster() -> RunningCluster | None:
    endpoint = os.environ.get("CAIRN_TEST_ENDPOINT")
    if not endpoint:
        return None
    return RunningCluster(endpoint, os.environ["CAIRN_TEST_ACCESS_KEY"], os.environ["CAIRN_TEST_SECRET_KEY"])


def start_cluster(
    data_dir: Path,
    *,
    tls: bool = False,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> RunningCluster:
    """`env` is added to the environment of `cairn up`, which its children inherit (service
    settings such as CAIRN_METADATA_INTENT_TTL_S)."""
    port = free_port()
    args = ["up", "--data-dir", str(data_dir), "--port", str(port), "--pg-count", "32", *(extra_args or [])]
    if tls:
        args.append("--tls")
    env = {
        **(env or {}),
        "CAIRN_ROOT_ACCESS_KEY": "CAIRNTESTROOTKEY0001",
        "CAIRN_ROOT_SECRET_KEY": "cairn-test-root-secret-key-0000000000001",
    }
    proc = ServiceProcess("cairn", args, data_dir / "cairn-up.log", env=env).start()
    cluster = RunningCluster(
        endpoint=f"{'https' if tls else 'http'}://127.0.0.1:{port}",
        access_key=env["CAIRN_ROOT_ACCESS_KEY"],
        secret_key=env["CAIRN_ROOT_SECRET_KEY"],
        data_dir=data_dir,
        proc=proc,
    )

    def ready() -> bool:
        if not proc.alive():
            raise RuntimeError(f"cairn up exited early:\n{proc.log_tail()}")
        try:
            return bool(cluster.cluster_json().get("ready"))
        except (OSError, ValueError):
            return False

    try:
        wait_for(ready, READY_TIMEOUT_S, "cairn up to report ready", interval=0.2)
    except BaseException:
        cluster.stop()
        raise
    cluster.tls_cert = cluster.cluster_json().get("tls_cert")
    return cluster
