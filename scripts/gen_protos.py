#!/usr/bin/env python3
"""Regenerate the checked-in gRPC stubs next to the `.proto` files in `proto/`.

Run with the pinned grpcio-tools and mypy-protobuf (the `dev` extra): `make protos`. The `.proto` files import
each other as `cairn/proto/<name>.proto`, and protoc maps that virtual path onto `proto/`, so
the generated modules import `cairn.proto.<name>_pb2`. `--check` regenerates into a temporary
folder and exits 1 if anything differs from what is checked in.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_dir: Path) -> list[Path]:
    """Generate stubs for every proto into out_dir (flat); return the generated paths."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(PROTO_DIR.glob("*.proto"))
    if not protos:
        raise SystemExit("no .proto files in proto/")
    with tempfile.TemporaryDirectory() as tmp:
        builtin = Path(grpc_tools.__file__).parent / "_proto"
        # mypy-protobuf's plugin types the stubs and the abstract servicers, so mypy checks every
        # client call and every servicer method against the contract.
        plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
        args = [
            "grpc_tools.protoc",
            f"-Icairn/proto={PROTO_DIR}",
            f"-I{builtin}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--plugin=protoc-gen-mypy_grpc={plugin}",
            f"--mypy_grpc_out={tmp}",
            *[f"cairn/proto/{p.name}" for p in protos],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        produced = sorted((Path(tmp) / "cairn" / "proto").iterdir())
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for path in produced:
            target = out_dir / path.name
            shutil.copyfile(path, target)
            written.append(target)
        return written


def checked_in() -> list[Path]:
    return sorted(p for p in PROTO_DIR.iterdir() if p.name.endswith(SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if checked-in stubs are stale")
    args = parser.parse_args()
    if not args.check:
        written = generate(PROTO_DIR)
        for stale in set(checked_in()) - set(written):
            stale.unlink()
        for path in written:
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p for p in generate(Path(tmp))}
        current = {p.name: p for p in checked_in()}
        problems = sorted(set(fresh) ^ set(current))
        problems += [
            n
            for n in sorted(set(fresh) & set(current))
            if not filecmp.cmp(fresh[n], current[n], shallow=False)
        ]
        for name in problems:
            print(f"stale or missing generated stub: proto/{name}", file=sys.stderr)
        return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
