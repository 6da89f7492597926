"""`cairn kube-domain`: write a data node's failure domain, read from its Kubernetes Node's labels.

The Helm chart runs it as the data node pod's init container: it reads the Node object the pod
was scheduled on (`GET /api/v1/nodes/<name>` with the pod's service-account token; the chart's
ClusterRole grants only `get` on nodes) and writes

    {"zone": <topology.kubernetes.io/zone>, "rack": <rack label or the host>, "host": <kubernetes.io/hostname>}

to a file on a volume it shares with the data node, which reads it with `--failure-domain-file`.
A node without a zone label gets `--default-zone` (a cluster with no zones is one zone); without
a hostname label, the node's name. Without a rack label the rack is the host (each host its own
rack), so placement spreads a PG's shards over zones, then hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.durable_file import write_atomic

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
ZONE_LABEL = "topology.kubernetes.io/zone"
HOST_LABEL = "kubernetes.io/hostname"
DEFAULT_ZONE = "zone-1"


class NodeLookupError(Exception):
    """The Node object could not be read."""


def in_cluster_api_server(environ: Mapping[str, str] = os.environ) -> str:
    """The API server's URL from the variables Kubernetes sets in every pod."""
    host = environ.get("KUBERNETES_SERVICE_HOST")
    port = environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise NodeLookupError("KUBERNETES_SERVICE_HOST is not set: not running in a Kubernetes pod?")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"https://{host}:{port}"


def fetch_node(api_server: str, node: str, token: str, ca_file: Path | None, timeout_s: float) -> Any:
    """The Node object `node` as JSON."""
    url = f"{api_server.rstrip('/')}/api/v1/nodes/{urllib.parse.quote(node, safe='')}"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace")
        raise NodeLookupError(f"GET {url}: HTTP {exc.code} {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NodeLookupError(f"GET {url}: {exc}") from exc


def domain_of(
    node: Mapping[str, Any],
    zone_label: str = ZONE_LABEL,
    host_label: str = HOST_LABEL,
    rack_label: str = "",
    default_zone: str = DEFAULT_ZONE,
) -> dict[str, str]:
    """The failure domain (zone, rack, host) of a Node object."""
    metadata = node.get("metadata") or {}
    labels = metadata.get("labels") or {}
    name = str(metadata.get("name") or "")
    host = str(labels.get(host_label) or name)
    if not host:
        raise NodeLookupError("the Node object has neither a hostname label nor a name")
    zone = str(labels.get(zone_label) or default_zone)
    rack = str(labels.get(rack_label) or host) if rack_label else host
    return {"zone": zone, "rack": rack, "host": host}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "kube-domain",
        help="write this pod's failure domain from its Kubernetes Node's labels (chart init container)",
        description="Read the Node this pod runs on from the Kubernetes API and write its zone, rack "
        "and host as JSON for the data node's --failure-domain-file.",
    )
    parser.add_argument("--node", default=os.environ.get("NODE_NAME"), help="Node name (default: $NODE_NAME)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--zone-label", default=ZONE_LABEL)
    parser.add_argument("--host-label", default=HOST_LABEL)
    parser.add_argument(
        "--rack-label", default="", help="Node label naming the rack (default: none, rack = host)"
    )
    parser.add_argument("--default-zone", default=DEFAULT_ZONE, help="zone of a Node without the zone label")
    parser.add_argument("--api-server", help="API server URL (default: the in-cluster service)")
    parser.add_argument("--token-file", type=Path, default=SERVICE_ACCOUNT / "token")
    parser.add_argument("--ca-file", type=Path, default=SERVICE_ACCOUNT / "ca.crt")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for the API call")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.node:
        print("cairn kube-domain: no node name (--node or $NODE_NAME)", flush=True)
        return 2
    try:
        api_server = args.api_server or in_cluster_api_server()
        token = args.token_file.read_text().strip()
        ca_file = args.ca_file if api_server.startswith("https:") else None
        node = fetch_node(api_server, args.node, token, ca_file, args.timeout)
        domain = domain_of(node, args.zone_label, args.host_label, args.rack_label, args.default_zone)
    except (NodeLookupError, OSError) as exc:
        print(f"cairn kube-domain: {exc}", flush=True)
        return 1
    write_atomic(args.out, (json.dumps(domain, sort_keys=True) + "\n").encode())
    print(
        f"failure domain of node {args.node}: {json.dumps(domain, sort_keys=True)} -> {args.out}", flush=True
    )
    return 0
