"""Every declared dependency serves: each runtime dependency is imported by the package's own code
(or, for uvicorn's loop and parser, named where uvicorn is started), each test dependency by the
tests; and the awscrt the floor allows has CRC64NVME."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

import awscrt
from awscrt import checksums

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: Distributions used by name rather than imported: where, and the text that uses them.
USED_BY_NAME = {
    "uvloop": ("api_service/__main__.py", 'loop="uvloop"'),
    "httptools": ("api_service/http_protocol.py", "from uvicorn.protocols.http.httptools_impl import"),
    # the packaging test builds with --no-build-isolation
    "setuptools": ("tests/unit/test_packaging.py", "--no-build-isolation"),
    "wheel": ("tests/unit/test_packaging.py", "--no-build-isolation"),
    # pytest plugins and the aws CLI the end-to-end tests run
    "pytest-asyncio": ("pyproject.toml", 'asyncio_mode = "auto"'),
    "pytest-timeout": ("pyproject.toml", "timeout = 300"),
    "awscli": ("tests/integration/test_e2e_aws_cli.py", '"aws"'),
}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(folders: list[Path]) -> set[str]:
    found: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            if ".venv" in path.parts or "build" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return found


def _distributions_of(modules: set[str]) -> set[str]:
    owners = importlib.metadata.packages_distributions()
    return {dist.lower().replace("_", "-") for module in modules for dist in owners.get(module, [])}


def _check(requirements: list[str], folders: list[Path]) -> None:
    imported = _distributions_of(_imports(folders))
    for requirement in requirements:
        name = _name(requirement)
        if name in USED_BY_NAME:
            where, text = USED_BY_NAME[name]
            assert text in (ROOT / where).read_text(), f"{name}: {where} no longer says {text}"
        else:
            assert name in imported, f"{name} is declared but nothing imports it"


def test_every_runtime_dependency_is_used_by_the_package() -> None:
    folders = [ROOT / f for f in CONFIG["tool"]["setuptools"]["package-dir"].values()]
    _check(CONFIG["project"]["dependencies"], folders)


def test_every_test_dependency_is_used_by_the_tests() -> None:
    _check(CONFIG["project"]["optional-dependencies"]["test"], [ROOT / "tests"])


def test_the_design_cards_async_file_and_sqlite_packages_are_set_aside_with_reasons() -> None:
    declared = {_name(r) for group in CONFIG["project"]["optional-dependencies"].values() for r in group}
    declared |= {_name(r) for r in CONFIG["project"]["dependencies"]}
    assert not {"aiofiles", "aiosqlite"} & declared
    assert "aiofiles" in (ROOT / "datanode" / "README.md").read_text()
    assert "aiosqlite" in (ROOT / "metadata" / "README.md").read_text()


def test_awscrt_has_crc64nvme_from_the_declared_floor() -> None:
    (requirement,) = [r for r in CONFIG["project"]["dependencies"] if _name(r) == "awscrt"]
    floor = tuple(int(p) for p in re.search(r">=([\d.]+)", requirement).group(1).split("."))  # type: ignore[union-attr]
    assert floor >= (0, 23)  # 0.20 has no CRC64NVME
    assert tuple(int(p) for p in awscrt.__version__.split(".")[:3]) >= floor
    assert checksums.crc64nvme(b"123456789") == 0xAE8B14860A799888  # the CRC-64/NVME check value
