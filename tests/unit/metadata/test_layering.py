"""The metadata domain (service, appliers, errors, models) never loads grpc or generated stubs:
only the RPC edge (client, rpc_server, rpc_convert, rpc_errors, rpc_batch) and the process entry point do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

METADATA = Path(__file__).resolve().parents[3] / "metadata"
EDGE = {"client", "rpc_server", "rpc_convert", "rpc_errors", "rpc_batch", "__main__", "__init__"}


def test_domain_modules_load_no_grpc() -> None:
    domain = sorted(p.stem for p in METADATA.glob("*.py") if p.stem not in EDGE)
    assert {"service", "errors", "models", "object_shard", "catalog"} <= set(domain)
    script = (
        "import importlib, sys\n"
        f"for name in {domain!r}:\n"
        "    importlib.import_module('cairn.metadata.' + name)\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith(('grpc.', 'cairn.proto'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
