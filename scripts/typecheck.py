#!/usr/bin/env python3
"""Run mypy on the `cairn` import package as it is installed, so imports across services are typed.

The import package maps repository folders onto subpackages (pyproject.toml's
`[tool.setuptools.package-dir]`: `metadata/` is `cairn.metadata`, `proto/` is `cairn.proto`, ...).
mypy cannot follow that mapping: `mypy cairn metadata` checks `metadata/` as a top-level
package `metadata`, and every `from cairn.metadata ...` or `from cairn.proto ...` import
resolves to nothing and is silently `Any` (ignore_missing_imports). This script builds a tree
of symlinks in a temporary folder - `cairn/<file>` for each file of `cairn/`, `cairn/<sub>` for
each mapped folder, and `tests` - and runs mypy there with the project's configuration, so those
imports are checked.

    .venv/bin/python scripts/typecheck.py [mypy arguments]     # default: -p cairn

Paths in mypy's messages are relative to the tree (`cairn/metadata/client.py`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_tree(into: Path) -> None:
    """Lay out `into/cairn/...` (and `into/tests`) as symlinks into the repository."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    package = into / "cairn"
    package.mkdir()
    for entry in (ROOT / mapping["cairn"]).iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in mapping.items():
        if name != "cairn":
            (package / name.removeprefix("cairn.")).symlink_to(ROOT / folder)
    (into / "tests").symlink_to(ROOT / "tests")


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="cairn-typecheck-") as tmp:
        tree = Path(tmp)
        build_tree(tree)
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
        return subprocess.run([*command, *(argv or ["-p", "cairn"])], cwd=tree, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
