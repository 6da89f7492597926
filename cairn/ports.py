"""The one table of default ports. Every service's config, `cairn admin` and the Helm chart's
values use these numbers (a test reads the chart's values.yaml and compares).

A local cluster (`cairn up`) picks free ports instead; these are the defaults of a service
started on its own and of the Kubernetes deployment.
"""

from __future__ import annotations

S3 = 9000
"""The S3 HTTP(S) endpoint of the API service."""
PLACEMENT = 7000
"""gRPC of a placement replica (placement API and its Raft peer traffic)."""
METADATA = 7100
"""gRPC of the metadata service."""
DATANODE = 7200
"""gRPC of a data node."""
GC = 7300
"""gRPC of the background service (cairn.gc): run its workers once, report their status."""
OPS = 9090
"""HTTP metrics and health (cairn.ops_http) of a placement, metadata or data node pod in the Helm
chart; a service started on its own has it off unless given `--ops-port`."""


def local(port: int) -> str:
    """ "127.0.0.1:<port>", the default address of a service on this machine."""
    return f"127.0.0.1:{port}"
