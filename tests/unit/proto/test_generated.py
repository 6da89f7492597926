"""The checked-in stubs are exactly what the pinned grpcio-tools generates from the protos."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_stubs_match_protos() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_every_proto_has_stubs_importable_as_cairn_proto() -> None:
    for proto in sorted((ROOT / "proto").glob("*.proto")):
        module = importlib.import_module(f"cairn.proto.{proto.stem}_pb2")
        assert Path(module.__file__).resolve().parent == ROOT / "proto"
