"""Where an S3 benchmark sends its requests: endpoint, credentials, region, and the server processes.

Shared by the S3 benchmarks. An endpoint comes from flags, else the AWS_* environment, else a local
`cairn up` cluster.json (`--cluster-json`), which also names every process of the cluster with its
pid and role, so a benchmark can account for the server's CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """One process of the server under test (a `cairn up` child, or a peer's pid)."""

    role: str
    name: str
    pid: int


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """What a `cairn up` cluster.json says about how to reach the cluster."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    ca_bundle: str | None
    processes: tuple[ServerProcess, ...]


def read_cluster_json(path: Path) -> ClusterInfo:
    """Endpoint, region, root credentials (from the credentials file it names), CA bundle (for
    `cairn up --tls`) and processes of a local cluster's cluster.json."""
    cluster = json.loads(path.read_text())
    creds = json.loads(Path(cluster["credentials_file"]).read_text())
    return ClusterInfo(
        endpoint=cluster["endpoint"],
        region=cluster.get("region", "us-east-1"),
        access_key=creds["access_key_id"],
        secret_key=creds["secret_access_key"],
        ca_bundle=cluster.get("tls_cert"),
        processes=tuple(
            ServerProcess(p["role"], p["name"], int(p["pid"]))
            for p in cluster.get("processes", [])
            if p.get("pid")
        ),
    )


def add_endpoint_args(p: argparse.ArgumentParser) -> None:
    """The connection flags every S3 benchmark takes; defaults from the AWS_* environment."""
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"), help="S3 endpoint URL")
    p.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    p.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--ca-bundle", default=os.environ.get("AWS_CA_BUNDLE"), help="CA bundle for HTTPS")
    p.add_argument(
        "--cluster-json", type=Path, help="a cairn up cluster.json: endpoint and credentials from it"
    )


def resolve_endpoint_args(
    p: argparse.ArgumentParser, args: argparse.Namespace, *, endpoint_required: bool = True
) -> ClusterInfo | None:
    """Fill the connection flags left empty from `--cluster-json` (explicit flags win, except the
    region, which is the cluster's); fail with a usage error when credentials (or, if required, the
    endpoint) are still missing. Returns the cluster.json contents when one was given."""
    cluster = read_cluster_json(args.cluster_json) if args.cluster_json else None
    if cluster is not None:
        args.endpoint = args.endpoint or cluster.endpoint
        args.access_key = args.access_key or cluster.access_key
        args.secret_key = args.secret_key or cluster.secret_key
        args.region = cluster.region
        args.ca_bundle = args.ca_bundle or cluster.ca_bundle
    if endpoint_required and not args.endpoint:
        p.error("endpoint missing: --endpoint, AWS_ENDPOINT_URL, or --cluster-json")
    if not (args.access_key and args.secret_key):
        p.error("credentials missing: --access-key/--secret-key, AWS_* environment, or --cluster-json")
    return cluster
