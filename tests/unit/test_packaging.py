"""`cairn` installs as one import package whose subpackages are the top-level service folders."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import cairn.gc
import cairn.proto

ROOT = Path(__file__).resolve().parents[2]


def test_editable_install_maps_service_folders() -> None:
    assert Path(cairn.gc.__file__).resolve() == ROOT / "gc" / "__init__.py"
    assert Path(cairn.proto.__file__).resolve() == ROOT / "proto" / "__init__.py"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for name, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            sub = list(rel.parts)
            if any(part in mapping.values() for part in sub) and name == "cairn":
                continue
            found.add(".".join([name, *sub]))
    assert found <= listed, f"packages missing from pyproject: {sorted(found - listed)}"


def test_regular_install_ships_the_same_files(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    probe = (
        "import cairn.gc, cairn.proto, cairn.datanode, cairn.proto.common_pb2 as c;"
        "print(cairn.gc.__file__); print(cairn.proto.__file__); print(c.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    ).stdout.split()
    gc_file, proto_file, common_file = (Path(p) for p in out)
    assert gc_file == target / "cairn" / "gc" / "__init__.py"
    assert proto_file == target / "cairn" / "proto" / "__init__.py"
    assert gc_file.read_bytes() == (ROOT / "gc" / "__init__.py").read_bytes()
    assert common_file.read_bytes() == (ROOT / "proto" / "common_pb2.py").read_bytes()
